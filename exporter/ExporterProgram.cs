using System.CommandLine;
using Tollgate.Core.Hosting;
using Tollgate.Core.Redis;
using Tollgate.Core.Serialization;
using Tollgate.Exporter.Hosting;
using Tollgate.Exporter.OpenCost;

namespace Tollgate.Exporter;

/// <summary>Entry point: parse, connect, serve. A start-up failure exits non-zero with one line that names its cause.</summary>
public static class ExporterProgram
{
    private static readonly Option<string> Listen = new("--listen") { Description = "Endpoint host:port for /metrics, /api/v1/usage, /healthz, /readyz.", DefaultValueFactory = _ => "0.0.0.0:9465" };
    private static readonly Option<string> Ledger = new("--ledger") { Description = "The shared Redis ledger, redis[s]://[user@]host:port[/db] (required; put the password in --ledger-password-file)." };
    private static readonly Option<string?> LedgerUser = new("--ledger-user") { Description = "Redis ACL user of the ledger (tollgate-exporter in a cluster), unless the address names it." };
    private static readonly Option<string?> LedgerPasswordFile = new("--ledger-password-file") { Description = "File holding the Redis ledger's password (a mounted Secret); never pass a password on the command line." };
    private static readonly Option<string?> LedgerCa = new("--ledger-ca") { Description = "PEM CA bundle a rediss:// ledger's certificate must chain to (only these are trusted); the certificate must name the ledger's host." };
    private static readonly Option<string?> LedgerCert = new("--ledger-cert") { Description = "PEM client certificate for a rediss:// ledger that asks for one." };
    private static readonly Option<string?> LedgerKey = new("--ledger-key") { Description = "PEM key of --ledger-cert, unless that file holds it." };
    private static readonly Option<string?> Policy = new("--policy") { Description = "AiBudget YAML file or folder, for budget limits and gauges." };
    private static readonly Option<string?> TokenFile = new("--token-file") { Description = "File with the bearer token the usage export API requires (disabled without)." };
    private static readonly Option<string> Consumer = new("--consumer") { Description = "Name in the usage stream's consumer group.", DefaultValueFactory = _ => "exporter-0" };
    private static readonly Option<int> MaxLabelValues = new("--max-label-values") { Description = "Distinct values each of the namespace, team, repo, pipeline, agent_step and model labels may take; later ones are counted under __overflow__.", DefaultValueFactory = _ => ExporterOptions.DefaultMaxLabelValues };
    private static readonly Argument<string> PluginConfig = new("config") { Description = "The plugin's JSON config: {\"ledger\":\"redis://host:port/db\",\"currency\":\"USD\"}." };

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        // OpenCost runs <name>.ocplugin.<os>.<arch> with the config path as the only argument, so a binary published
        // or copied under such a name is the plugin without a wrapper script.
        if (Path.GetFileName(Environment.ProcessPath) is { } executable && executable.Contains(".ocplugin.", StringComparison.Ordinal)
            && args is not ["opencost-plugin", ..])
        {
            args = ["opencost-plugin", .. args];
        }

        var root = new RootCommand("Tollgate exporter: the cluster's AI token usage, cost and budgets as Prometheus series, and a usage export API.");
        foreach (var option in new Option[] { Listen, Ledger, LedgerUser, LedgerPasswordFile, LedgerCa, LedgerCert, LedgerKey, Policy, TokenFile, Consumer, MaxLabelValues })
        {
            root.Options.Add(option);
        }

        // The serving mode is the root command itself: without an action of its own, System.CommandLine would demand a
        // subcommand and refuse the Deployment's arguments ("Required command was not provided").
        root.SetAction(_ => 0);

        var openCostPlugin = new Command("opencost-plugin", "Serve AI spend to OpenCost as a custom-cost plugin (go-plugin over gRPC); OpenCost starts it with its config file.");
        openCostPlugin.Arguments.Add(PluginConfig);
        root.Subcommands.Add(openCostPlugin);

        var result = root.Parse(args);
        if (ProgramExit.AsksForHelp(args))
        {
            return await result.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
        }

        if (result.Errors.Count == 0 && result.CommandResult.Command == openCostPlugin)
        {
            return await OpenCostPlugin.RunAsync(result.GetValue(PluginConfig)!, output, error);
        }

        var usageError = result.Errors.Count > 0 ? result.Errors[0].Message : Validate(result);
        if (usageError is not null)
        {
            await error.WriteLineAsync($"tollgate-exporter: {usageError}");
            return ProgramExit.Usage;
        }

        var options = new ExporterOptions
        {
            Listen = result.GetValue(Listen)!,
            Ledger = result.GetValue(Ledger)!,
            LedgerUser = result.GetValue(LedgerUser),
            LedgerPasswordFile = result.GetValue(LedgerPasswordFile),
            LedgerCaPath = result.GetValue(LedgerCa),
            LedgerCertificatePath = result.GetValue(LedgerCert),
            LedgerKeyPath = result.GetValue(LedgerKey),
            PolicyPath = result.GetValue(Policy),
            TokenFile = result.GetValue(TokenFile),
            ConsumerName = result.GetValue(Consumer)!,
            MaxLabelValues = result.GetValue(MaxLabelValues),
        };

        ExporterApp app;
        try
        {
            app = await ExporterApp.CreateAsync(options, cancellationToken: cancellationToken);
        }
        catch (DocumentException ex)
        {
            await error.WriteLineAsync($"tollgate-exporter: {ex.Message}");
            return ProgramExit.Configuration;
        }

        await using (app)
        {
            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);

            // A consumer that failed for good stops the host; exiting non-zero makes Kubernetes restart it and alert.
            return app.ExitCode;
        }
    }

    private static string? Validate(ParseResult result)
    {
        if (result.GetValue(Ledger) is not { Length: > 0 } ledger)
        {
            return "--ledger: required (redis://host:port[/db])";
        }

        try
        {
            _ = new RedisLedgerSettings(
                ledger, result.GetValue(LedgerUser), result.GetValue(LedgerPasswordFile), result.GetValue(LedgerCa), result.GetValue(LedgerCert), result.GetValue(LedgerKey))
                .ToOptions(RedisLedgerAccess.Read);
        }
        catch (FormatException ex)
        {
            return $"--ledger: {ex.Message}";
        }

        if (!EndpointParser.TryParse(result.GetValue(Listen)!, out _, out var listenError))
        {
            return $"--listen: {listenError}";
        }

        if (result.GetValue(MaxLabelValues) <= 0)
        {
            return "--max-label-values: must be positive";
        }

        if (result.GetValue(TokenFile) is { } tokenFile && !File.Exists(tokenFile))
        {
            return $"--token-file: {tokenFile} does not exist";
        }

        if (result.GetValue(Policy) is { } policy && !File.Exists(policy) && !Directory.Exists(policy))
        {
            return $"--policy: {policy} does not exist";
        }

        return null;
    }
}
