using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tollgate.Core.Ledger;
using Tollgate.Core.Ledger.Redis;
using Tollgate.Operator.Webhooks;
using k8s;

namespace Tollgate.Operator.Hosting;

/// <summary>
/// Runs the controllers in a cluster until SIGTERM or Ctrl+C. Settings come from environment variables (the
/// Deployment in config/manager) or <c>--Key=value</c> flags, both in .NET configuration form:
/// <list type="bullet">
/// <item><c>Tollgate__Operator__Namespace</c> (default <c>POD_NAMESPACE</c>, else tollgate-system),
/// <c>Tollgate__Operator__StatusRefreshInterval</c> (a TimeSpan, default 00:00:30),
/// <c>Tollgate__Operator__AdmissionResyncInterval</c> (default 00:05:00)</item>
/// <item><c>Tollgate__LeaderElection__Enabled</c>, <c>__LeaseName</c>, <c>__LeaseNamespace</c>, <c>__Identity</c>,
/// <c>__LeaseDuration</c>, <c>__RenewDeadline</c>, <c>__RetryPeriod</c></item>
/// <item><c>Tollgate__Ledger__Address</c>: the Redis ledger (<c>redis://host:port</c>) budget status is read from; required</item>
/// </list>
/// </summary>
internal static class OperatorRunner
{
    public static async Task<int> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        var options = ReadOptions(configuration);
        var ledgerAddress = configuration["Tollgate:Ledger:Address"];
        if (string.IsNullOrWhiteSpace(ledgerAddress))
        {
            await Console.Error.WriteLineAsync("Tollgate:Ledger:Address (env Tollgate__Ledger__Address) is required, e.g. redis://tollgate-redis:6379");
            return 2;
        }

        using var loggerFactory = LoggerFactory.Create(builder =>
        {
            Tollgate.Core.Hosting.OneLineConsoleFormatter.Use(builder);
            builder.AddConfiguration(configuration.GetSection("Logging"));
        });
        using var stop = new CancellationTokenSource();

        // SIGTERM is how the kubelet asks a pod to stop; the loops end and in-flight reconciles are cancelled.
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });

        var time = TimeProvider.System;
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildDefaultConfig());
        await using IBudgetLedger ledger = await RedisLedger.ConnectAsync(
            new RedisLedgerOptions { Address = RedisLedgerAddress.Parse(ledgerAddress) }, time, loggerFactory.CreateLogger<RedisLedger>(), stop.Token);
        // One SidecarOptions for both: the admission policy's parameters must describe exactly the meter the webhook injects.
        var sidecar = configuration.GetSection(SidecarOptions.SectionName).Get<SidecarOptions>() ?? new SidecarOptions();
        await using var host = new OperatorHost(client, ledger, options, time, loggerFactory, sidecar);
        await host.StartAsync(stop.Token);

        // Every replica serves the webhook (leader or not), with a certificate the rotator keeps issued and patched in.
        var tls = configuration.GetSection(WebhookTlsOptions.SectionName).Get<WebhookTlsOptions>() ?? new WebhookTlsOptions();
        var certificates = new ServingCertificateSource();
        using var rotator = new WebhookTlsRotator(
            new WebhookCertificateStore(client, Options.Create(tls), time, loggerFactory.CreateLogger<WebhookCertificateStore>()),
            new CaBundlePatcher(client, loggerFactory.CreateLogger<CaBundlePatcher>()),
            certificates,
            Options.Create(tls),
            time,
            loggerFactory.CreateLogger<WebhookTlsRotator>());
        await rotator.StartAsync(stop.Token);
        await using var webhook = WebhookHost.Create(
            configuration.GetSection(WebhookHostOptions.SectionName).Get<WebhookHostOptions>() ?? new WebhookHostOptions(),
            sidecar,
            host.NamespaceLookup,
            certificates);
        await webhook.StartAsync(stop.Token);

        var metrics = configuration.GetSection("Tollgate:Metrics");
        await using var health = HealthServer.Create(metrics["ListenAddress"] ?? "0.0.0.0", metrics.GetValue("Port", 8080), host, () => certificates.Current is not null);
        await health.StartAsync(stop.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
            // Asked to stop.
        }

        await rotator.StopAsync(CancellationToken.None);
        await webhook.StopAsync(CancellationToken.None);
        await host.StopAsync();
        return 0;
    }

    internal static OperatorOptions ReadOptions(IConfiguration configuration)
    {
        var options = new OperatorOptions
        {
            Namespace = Environment.GetEnvironmentVariable("POD_NAMESPACE") is { Length: > 0 } podNamespace ? podNamespace : "tollgate-system",
        };
        configuration.GetSection("Tollgate:Operator").Bind(options);
        var election = configuration.GetSection("Tollgate:LeaderElection");
        options.LeaderElection = election.GetValue("Enabled", options.LeaderElection);
        options.LeaseName = election.GetValue("LeaseName", options.LeaseName)!;
        options.LeaseNamespace = election.GetValue("LeaseNamespace", options.LeaseNamespace);
        options.Identity = election.GetValue("Identity", options.Identity)!;
        options.LeaseDuration = election.GetValue("LeaseDuration", options.LeaseDuration);
        options.RenewDeadline = election.GetValue("RenewDeadline", options.RenewDeadline);
        options.RetryPeriod = election.GetValue("RetryPeriod", options.RetryPeriod);
        return options;
    }
}
