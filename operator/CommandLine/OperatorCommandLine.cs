using System.CommandLine;
using System.Globalization;
using Tollgate.Core.Hosting;
using Tollgate.Core.Redis;
using Tollgate.Operator.Hosting;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.CommandLine;

/// <summary>
/// The operator's command line. The root command runs the controllers, the webhook and the health server;
/// <c>generate-crds</c> writes the CRDs. The run flags are a typed front over the operator's .NET configuration keys:
/// a flag given wins over the same setting from a <c>Tollgate__*</c> environment variable, and settings without a flag
/// (sidecar resources and identity mappings, lease timings, the status refresh interval) stay environment-only.
/// </summary>
internal static class OperatorCommandLine
{
    public const string LedgerKey = "Tollgate:Ledger:Address";
    public const string LedgerUserKey = "Tollgate:Ledger:User";
    public const string LedgerPasswordFileKey = "Tollgate:Ledger:PasswordFile";
    public const string LedgerCaKey = "Tollgate:Ledger:CaFile";
    public const string LedgerCertificateKey = "Tollgate:Ledger:CertificateFile";
    public const string LedgerKeyKey = "Tollgate:Ledger:KeyFile";

    private static readonly Option<string?> Ledger = new("--ledger") { Description = "The shared Redis ledger AiBudget status is read from, redis://host:port[/db] (required; or env Tollgate__Ledger__Address)." };
    private static readonly Option<string?> LedgerUser = new("--ledger-user") { Description = "Redis ACL user of the ledger (tollgate-operator in a cluster), unless the address names it (or env Tollgate__Ledger__User)." };
    private static readonly Option<string?> LedgerPasswordFile = new("--ledger-password-file") { Description = "File holding the Redis ledger's password, a mounted Secret (or env Tollgate__Ledger__PasswordFile)." };
    private static readonly Option<string?> LedgerCa = new("--ledger-ca") { Description = "PEM CA bundle a rediss:// ledger's certificate must chain to (or env Tollgate__Ledger__CaFile)." };
    private static readonly Option<string?> LedgerCert = new("--ledger-cert") { Description = "PEM client certificate for a rediss:// ledger (or env Tollgate__Ledger__CertificateFile)." };
    private static readonly Option<string?> LedgerKeyFile = new("--ledger-key") { Description = "PEM key of --ledger-cert, unless that file holds it (or env Tollgate__Ledger__KeyFile)." };
    private static readonly Option<string?> Namespace = new("--namespace") { Description = "The operator's own namespace: its Lease, webhook Service and Secret live there (default: $POD_NAMESPACE, else tollgate-system)." };
    private static readonly Option<string?> MetricsListen = new("--metrics-listen") { Description = "Endpoint host:port for /metrics, /healthz and /readyz over HTTP (default 0.0.0.0:8080)." };
    private static readonly Option<string?> WebhookListen = new("--webhook-listen") { Description = Default("Endpoint host:port for the pod webhook over HTTPS", $"{new WebhookHostOptions().ListenAddress}:{Format(new WebhookHostOptions().Port)}") };
    private static readonly Option<string?> LeaderElection = new("--leader-election") { HelpName = "true|false", Description = "true: only the Lease holder runs the reconcile loops (every replica serves the webhook); false: run them without a Lease (default true)." };
    private static readonly Option<string?> LeaseName = new("--lease-name") { Description = Default("The leader election Lease, in --namespace", new OperatorOptions().LeaseName) };
    private static readonly Option<string?> Identity = new("--identity") { Description = "This replica's name in the Lease (default: $POD_NAME, else the host name)." };
    private static readonly Option<string?> WebhookService = new("--webhook-service") { Description = Default("The Service the API server calls the webhook through, in --namespace; the certificate is issued for it", new WebhookTlsOptions().ServiceName) };
    private static readonly Option<string?> WebhookSecret = new("--webhook-secret") { Description = Default("The Secret, in --namespace, holding the webhook certificate all replicas share", new WebhookTlsOptions().SecretName) };
    private static readonly Option<string?> WebhookConfiguration = new("--webhook-configuration") { Description = Default("The MutatingWebhookConfiguration whose caBundle the operator keeps current", new WebhookTlsOptions().WebhookConfigurationName) };
    private static readonly Option<string?> SidecarImage = new("--sidecar-image") { Description = Default("The meter image the webhook injects; use the operator's release", new SidecarOptions().Image) };
    private static readonly Option<string?> KeySource = new("--sidecar-key-source") { HelpName = "broker|secret", Description = "Where injected meters get provider keys: broker (from this operator, authenticated by the pod's token; nothing in the CI namespace holds a key) or secret (Secret tollgate-provider-keys mounted from the pod's namespace) (default broker)." };
    private static readonly Option<string?> SidecarLedger = new("--sidecar-ledger") { Description = Default("The ledger injected meters settle against, reachable from every metered namespace", new SidecarOptions().Ledger) };

    public static readonly Argument<string> CrdDirectory = new("directory") { Description = "Where to write the CRD files.", DefaultValueFactory = _ => "crds" };

    public static Command GenerateCrds { get; } = new("generate-crds", "Write the CustomResourceDefinitions generated from the API types (as in crds/) and exit.") { Arguments = { CrdDirectory } };

    public static RootCommand Command { get; } = Build();

    /// <summary>
    /// The configuration keys the run flags set, or an error line naming the flag at fault. Only flags that were
    /// given appear, so an unset flag leaves the environment's value (or the code's default) in force.
    /// </summary>
    public static (IReadOnlyDictionary<string, string?>? Settings, string? Error) Settings(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);

        if (result.GetValue(Ledger) is { } ledger)
        {
            try
            {
                _ = RedisLedgerAddress.Parse(ledger);
            }
            catch (FormatException ex)
            {
                return (null, $"--ledger: {ex.Message}");
            }

            settings[LedgerKey] = ledger;
        }

        foreach (var (option, key) in new[] { (LedgerUser, LedgerUserKey), (LedgerPasswordFile, LedgerPasswordFileKey), (LedgerCa, LedgerCaKey), (LedgerCert, LedgerCertificateKey), (LedgerKeyFile, LedgerKeyKey) })
        {
            if (result.GetValue(option) is { } value)
            {
                settings[key] = value;
            }
        }

        if (result.GetValue(SidecarLedger) is { } sidecarLedger)
        {
            // The operator does not connect to it, but every injected meter would fail to start: refuse it here.
            try
            {
                // The address is written into every injected pod's spec, where any job could read a password.
                if (RedisLedgerAddress.Parse(sidecarLedger).Password is not null)
                {
                    return (null, $"--sidecar-ledger: {RedisLedgerAddress.Redact(sidecarLedger)} holds a password, which would be written into every injected pod's spec; give the meter's credentials as a Secret instead");
                }
            }
            catch (FormatException ex)
            {
                return (null, $"--sidecar-ledger: {ex.Message}");
            }

            settings[$"{SidecarOptions.SectionName}:Ledger"] = sidecarLedger;
        }

        foreach (var (option, section) in new[] { (MetricsListen, OperatorRunner.MetricsSection), (WebhookListen, WebhookHostOptions.SectionName) })
        {
            if (result.GetValue(option) is not { } listen)
            {
                continue;
            }

            if (!EndpointParser.TryParse(listen, out var endpoint, out var endpointError))
            {
                return (null, $"{option.Name}: {endpointError}");
            }

            settings[$"{section}:ListenAddress"] = endpoint.Address.ToString();
            settings[$"{section}:Port"] = Format(endpoint.Port);
        }

        if (result.GetValue(KeySource) is { } keySource)
        {
            if (keySource is not ("broker" or "secret"))
            {
                return (null, $"--sidecar-key-source: expected broker or secret (got \"{keySource}\")");
            }

            settings[$"{SidecarOptions.SectionName}:KeySource"] = keySource == "broker" ? nameof(Webhooks.SidecarKeySource.Broker) : nameof(Webhooks.SidecarKeySource.Secret);
        }

        if (result.GetValue(LeaderElection) is { } leaderElection)
        {
            if (leaderElection is not ("true" or "false"))
            {
                return (null, $"--leader-election: expected true or false (got \"{leaderElection}\")");
            }

            settings["Tollgate:LeaderElection:Enabled"] = leaderElection;
        }

        foreach (var (option, key) in new[]
        {
            (Namespace, "Tollgate:Operator:Namespace"),
            (LeaseName, "Tollgate:LeaderElection:LeaseName"),
            (Identity, "Tollgate:LeaderElection:Identity"),
            (WebhookService, $"{WebhookTlsOptions.SectionName}:ServiceName"),
            (WebhookSecret, $"{WebhookTlsOptions.SectionName}:SecretName"),
            (WebhookConfiguration, $"{WebhookTlsOptions.SectionName}:WebhookConfigurationName"),
            (SidecarImage, $"{SidecarOptions.SectionName}:Image"),
        })
        {
            if (result.GetValue(option) is not { } value)
            {
                continue;
            }

            if (string.IsNullOrWhiteSpace(value))
            {
                return (null, $"{option.Name}: must not be empty");
            }

            settings[key] = value;
        }

        return (settings, null);
    }

    private static RootCommand Build()
    {
        var root = new RootCommand(
            "Tollgate operator: runs the AiBudget, AiRoutingRule and namespace controllers and the pod webhook that injects the meter. " +
            "Every setting can also come from a Tollgate__<Section>__<Key> environment variable; a flag given wins.");
        foreach (var option in new Option[] { Ledger, LedgerUser, LedgerPasswordFile, LedgerCa, LedgerCert, LedgerKeyFile, Namespace, MetricsListen, WebhookListen, LeaderElection, LeaseName, Identity, WebhookService, WebhookSecret, WebhookConfiguration, SidecarImage, KeySource, SidecarLedger })
        {
            root.Options.Add(option);
        }

        // Running is the root command's own job: without an action System.CommandLine would demand a subcommand.
        root.SetAction(_ => ProgramExit.Ok);
        root.Subcommands.Add(GenerateCrds);
        return root;
    }

    private static string Default(string description, string value) => $"{description} (default {value}).";

    private static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);
}
