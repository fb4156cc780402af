using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tollgate.Core.Hosting;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Operator.KeyBroker;
using Tollgate.Operator.LedgerWiring;
using Tollgate.Operator.Webhooks;
using k8s;

namespace Tollgate.Operator.Hosting;

/// <summary>
/// Runs the controllers, the webhook and the health server until SIGTERM or Ctrl+C, from the operator's .NET
/// configuration: <c>Tollgate__*</c> environment variables overlaid with the command line's flags (see
/// <see cref="CommandLine.OperatorCommandLine"/>). The keys, with their flags where they have one:
/// <list type="bullet">
/// <item><c>Tollgate:Ledger:Address</c> (<c>--ledger</c>): the Redis ledger budget status is read from; required</item>
/// <item><c>Tollgate:Operator:Namespace</c> (<c>--namespace</c>, default <c>POD_NAMESPACE</c>, else tollgate-system),
/// <c>Tollgate:Operator:StatusRefreshInterval</c> (a TimeSpan, default 00:00:30),
/// <c>Tollgate:Operator:AdmissionResyncInterval</c> (default 00:05:00)</item>
/// <item><c>Tollgate:LeaderElection:Enabled</c> (<c>--leader-election</c>), <c>:LeaseName</c> (<c>--lease-name</c>),
/// <c>:LeaseNamespace</c>, <c>:Identity</c> (<c>--identity</c>), <c>:LeaseDuration</c>, <c>:RenewDeadline</c>, <c>:RetryPeriod</c></item>
/// <item><c>Tollgate:Metrics:ListenAddress</c> and <c>:Port</c> (<c>--metrics-listen</c>), <c>Tollgate:Webhook:*</c>
/// (<c>--webhook-listen</c>), <c>Tollgate:WebhookTls:*</c> and <c>Tollgate:Sidecar:*</c> (operator/Webhooks; <c>:KeySource</c>
/// is <c>--sidecar-key-source</c>), <c>Tollgate:Broker:*</c> (operator/KeyBroker)</item>
/// <item><c>Tollgate:LedgerWiring:*</c> (operator/LedgerWiring): the shipped Redis' certificate, users and ACL file</item>
/// </list>
/// </summary>
internal static class OperatorRunner
{
    public const string MetricsSection = "Tollgate:Metrics";
    public const string DefaultMetricsAddress = "0.0.0.0";
    public const int DefaultMetricsPort = 8080;

    public static async Task<int> RunAsync(IConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var options = ReadOptions(configuration);
        var ledgerSettings = LedgerSettings(configuration);

        using var loggerFactory = LoggerFactory.Create(builder =>
        {
            Tollgate.Core.Hosting.OneLineConsoleFormatter.Use(builder);
            builder.AddConfiguration(configuration.GetSection("Logging"));
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

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
        await using IBudgetLedger ledger = await PendingLedger.ConnectAsync(
            ledgerSettings, RedisLedgerAccess.Read, time, loggerFactory.CreateLogger<RedisLedger>(), stop.Token);
        // One SidecarOptions for both: the admission policy's parameters must describe exactly the meter the webhook injects.
        var sidecar = configuration.GetSection(SidecarOptions.SectionName).Get<SidecarOptions>() ?? new SidecarOptions();
        var ledgerWiring = configuration.GetSection(LedgerWiringOptions.SectionName).Get<LedgerWiringOptions>() ?? new LedgerWiringOptions();
        // Every replica serves the webhook (leader or not), with a certificate the rotator keeps issued and patched in.
        var tls = configuration.GetSection(WebhookTlsOptions.SectionName).Get<WebhookTlsOptions>() ?? new WebhookTlsOptions();

        // The webhook Service is the operator's own, so it lives where the operator does unless configured otherwise.
        if (configuration[$"{WebhookTlsOptions.SectionName}:ServiceNamespace"] is null)
        {
            tls.ServiceNamespace = options.Namespace;
        }

        ledgerWiring.CaSecretName = tls.SecretName;
        await using var host = new OperatorHost(client, ledger, options, time, loggerFactory, sidecar, tls.SecretName, ledgerWiring);
        await host.StartAsync(stop.Token);

        var certificates = new ServingCertificateSource();
        certificates.Changed += host.RepublishCa;
        using var rotator = new WebhookTlsRotator(
            new WebhookCertificateStore(client, Options.Create(tls), time, loggerFactory.CreateLogger<WebhookCertificateStore>()),
            new CaBundlePatcher(client, loggerFactory.CreateLogger<CaBundlePatcher>()),
            certificates,
            Options.Create(tls),
            time,
            loggerFactory.CreateLogger<WebhookTlsRotator>());
        await rotator.StartAsync(stop.Token);
        // The meters' key broker shares the webhook's listener and certificate (Service tollgate-webhook), on every replica.
        var brokerMetrics = new KeyBrokerMetrics();
        var broker = KeyBrokerEndpoint.Create(
            client,
            host.NamespaceLookup,
            sidecar,
            configuration.GetSection(KeyBrokerOptions.SectionName).Get<KeyBrokerOptions>() ?? new KeyBrokerOptions(),
            options.Namespace,
            time,
            loggerFactory,
            brokerMetrics);
        await using var webhook = WebhookHost.Create(
            configuration.GetSection(WebhookHostOptions.SectionName).Get<WebhookHostOptions>() ?? new WebhookHostOptions(),
            sidecar,
            host.NamespaceLookup,
            certificates,
            keyBroker: broker);
        await ListenAsync("--webhook-listen", () => webhook.StartAsync(stop.Token));

        var metrics = configuration.GetSection(MetricsSection);
        await using var health = HealthServer.Create(
            metrics["ListenAddress"] ?? DefaultMetricsAddress, metrics.GetValue("Port", DefaultMetricsPort), host, () => certificates.Current is not null, brokerMetrics);
        await ListenAsync("--metrics-listen", () => health.StartAsync(stop.Token));
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
        return ProgramExit.Ok;
    }

    /// <summary>A port that cannot be bound is a start-up failure of its flag, not a crash with a stack trace.</summary>
    private static async Task ListenAsync(string flag, Func<Task> start)
    {
        try
        {
            await start();
        }
        catch (IOException ex)
        {
            throw new IOException($"{flag}: {ex.Message}", ex);
        }
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

    /// <summary>The ledger as configured (flags or <c>Tollgate__Ledger__*</c>): address, user, password file and TLS files.</summary>
    internal static RedisLedgerSettings LedgerSettings(IConfiguration configuration) =>
        new(
            configuration[CommandLine.OperatorCommandLine.LedgerKey]!,
            configuration[CommandLine.OperatorCommandLine.LedgerUserKey],
            configuration[CommandLine.OperatorCommandLine.LedgerPasswordFileKey],
            configuration[CommandLine.OperatorCommandLine.LedgerCaKey],
            configuration[CommandLine.OperatorCommandLine.LedgerCertificateKey],
            configuration[CommandLine.OperatorCommandLine.LedgerKeyKey]);
}
