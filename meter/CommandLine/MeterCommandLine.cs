using System.CommandLine;
using System.Globalization;
using Tollgate.Core.Estimation;
using Tollgate.Core.Hosting;
using Tollgate.Core.Redis;
using Tollgate.Core.Tagging;
using Tollgate.Meter.Forwarding;
using Tollgate.Meter.Hosting;

namespace Tollgate.Meter.CommandLine;

/// <summary>The meter's command line (a contract: docs/architecture.md, README "Command line").</summary>
internal static class MeterCommandLine
{
    private static readonly Option<string> Listen = new("--listen") { Description = "Proxy endpoint host:port.", DefaultValueFactory = _ => "127.0.0.1:8787" };
    private static readonly Option<string> AdminListen = new("--admin-listen") { Description = "Admin endpoint host:port for /metrics, /healthz, /startupz, /readyz.", DefaultValueFactory = _ => "127.0.0.1:9464" };
    private static readonly Option<string?> Policy = new("--policy") { Description = "AiBudget/AiRoutingRule YAML file or folder; reloaded when it changes." };
    private static readonly Option<string?> Pricing = new("--pricing") { Description = "Pricing catalog YAML replacing the embedded one." };
    private static readonly Option<string[]> Upstream = new("--upstream") { Description = "Provider upstream, provider=url (repeatable), e.g. openai=http://127.0.0.1:9000." };
    private static readonly Option<string?> UpstreamCa = new("--upstream-ca") { Description = "PEM bundle of CAs trusted for upstream TLS, besides the system trust store." };
    private static readonly Option<string> Ledger = new("--ledger") { Description = "Embedded ledger journal path, 'memory', or a shared Redis ledger redis[s]://[user@]host:port[/db] (put the password in --ledger-password-file).", DefaultValueFactory = _ => MeterOptions.DefaultLedger };
    private static readonly Option<string?> LedgerUser = new("--ledger-user") { Description = "Redis ACL user of the shared ledger (tollgate-meter in a cluster), unless the address names it." };
    private static readonly Option<string?> LedgerPasswordFile = new("--ledger-password-file") { Description = "File holding the Redis ledger's password (a mounted Secret); never pass a password on the command line." };
    private static readonly Option<string?> LedgerCa = new("--ledger-ca") { Description = "PEM CA bundle a rediss:// ledger's certificate must chain to (only these are trusted); the certificate must name the ledger's host." };
    private static readonly Option<string?> LedgerCert = new("--ledger-cert") { Description = "PEM client certificate for a rediss:// ledger that asks for one." };
    private static readonly Option<string?> LedgerKey = new("--ledger-key") { Description = "PEM key of --ledger-cert, unless that file holds it." };
    private static readonly Option<string?> KeyBroker = new("--key-broker") { Description = "https URL of the operator's key broker; provider keys, routing Secrets and (unless given here) ledger credentials come from it, held in memory only." };
    private static readonly Option<string?> KeyBrokerToken = new("--key-broker-token") { Description = "File holding the bearer token for --key-broker (a projected service-account token); re-read at every fetch." };
    private static readonly Option<string?> KeyBrokerCa = new("--key-broker-ca") { Description = "PEM CA bundle the key broker's certificate must chain to (only these are trusted); the certificate must name the broker's host." };
    private static readonly Option<string?> Spool = new("--spool") { Description = "File usage is spooled to while the ledger is unavailable (default: the ledger path plus .spool; .tollgate/usage.spool for Redis)." };
    private static readonly Option<string> SecretsDir = new("--secrets-dir") { Description = "Folder of routing rules' API key Secrets, as <dir>/<secret>/<key>.", DefaultValueFactory = _ => "/etc/tollgate/secrets" };
    private static readonly Option<string> RequiredTags = new("--required-tags") { Description = "Comma-separated tags every request must carry.", DefaultValueFactory = _ => "team,repo,pipeline" };
    private static readonly Option<string[]> Tag = new("--tag") { Description = "Identity tag key=value that requests cannot override (repeatable)." };
    private static readonly Option<string> Namespace = new("--namespace") { Description = "Kubernetes namespace the requests come from.", DefaultValueFactory = _ => string.Empty };
    private static readonly Option<string[]> NamespaceLabel = new("--namespace-label") { Description = "Label key=value of that namespace (repeatable)." };
    private static readonly Option<long> MaxRequestBytes = new("--max-request-bytes") { Description = "Largest request body accepted.", DefaultValueFactory = _ => 32L * 1024 * 1024 };
    private static readonly Option<string> InputEstimate = new("--input-estimate") { Description = "How input tokens are bounded before the provider reports them: tokenizer (o200k, accurate) or bytes (one per byte, no vocabulary in memory).", DefaultValueFactory = _ => "tokenizer" };
    private static readonly Option<string[]> AllowUnmetered = new("--allow-unmetered") { Description = "Path glob (repeatable) of an endpoint the meter does not meter that may pass anyway: forwarded with the client's own key, counted as unmetered, never priced. Without it such endpoints get 403 endpoint_not_metered." };
    private static readonly Option<long> DefaultMaxOutputTokens = new("--default-max-output-tokens") { Description = "Output tokens reserved when a request sets no max tokens.", DefaultValueFactory = _ => 4096 };
    private static readonly Option<int> MaxLabelValues = new("--max-label-values") { Description = "Distinct values each of the team, repo, pipeline, agent_step and model labels may take; later ones are published as __overflow__ (budgets still see the real value).", DefaultValueFactory = _ => MeterOptions.DefaultMaxLabelValues };

    public static RootCommand Command { get; } = Build();

    /// <summary>
    /// The offline tools left the meter for their own executable (cli/, <c>tollgate</c>), so the sidecar carries neither
    /// their code nor their dependencies. A line that still names one gets where it went, not the parser's generic
    /// "unrecognized argument"; null for any other line.
    /// </summary>
    public static string? MovedCommand(IReadOnlyList<string> args) =>
        args.Count > 0 && args[0] is "simulate" or "backtest" or "recommend"
            ? $"\"{args[0]}\" is not a meter command: the offline tools are the tollgate command now (dotnet run --project cli -- {args[0]} ...)"
            : null;

    /// <summary>Parses arguments; returns options, or an error line naming the flag at fault.</summary>
    public static (MeterOptions? Options, string? Error) Parse(string[] args, Func<string, string?> environment)
    {
        var result = Command.Parse(args);
        if (result.Errors.Count > 0)
        {
            return (null, result.Errors[0].Message);
        }

        var upstreams = new MeterOptions().Upstreams.ToDictionary(StringComparer.Ordinal);
        foreach (var value in result.GetValue(Upstream) ?? [])
        {
            if (!TrySplit(value, out var provider, out var url) || provider is not ("anthropic" or "openai"))
            {
                return (null, $"--upstream: expected anthropic=<url> or openai=<url> (got \"{value}\")");
            }

            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.Query))
            {
                return (null, $"--upstream {provider}: \"{url}\" is not an http(s) origin with an optional path prefix");
            }

            upstreams[provider] = uri;
        }

        var upstreamCa = result.GetValue(UpstreamCa);
        if (upstreamCa is not null)
        {
            try
            {
                _ = UpstreamTrust.LoadBundle(upstreamCa);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                return (null, $"--upstream-ca: \"{upstreamCa}\" {Reason(ex)}");
            }
        }

        foreach (var (flag, option) in new[] { ("--listen", Listen), ("--admin-listen", AdminListen) })
        {
            if (!EndpointParser.TryParse(result.GetValue(option)!, out _, out var endpointError))
            {
                return (null, $"{flag}: {endpointError}");
            }
        }

        if (result.GetValue(Listen) == result.GetValue(AdminListen) && !result.GetValue(Listen)!.EndsWith(":0", StringComparison.Ordinal))
        {
            return (null, "--admin-listen: must differ from --listen");
        }

        var identity = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in result.GetValue(Tag) ?? [])
        {
            if (!TrySplit(value, out var key, out var tagValue))
            {
                return (null, $"--tag: expected key=value (got \"{value}\")");
            }

            // Identity tags travel on every usage event; the exporter refuses events whose tags break the header's rules,
            // so a value the header could not carry is refused here, at start. Empty stays allowed: an absent annotation.
            if (RequestTags.KeyProblem(key) is { } keyProblem)
            {
                return (null, $"--tag: the key \"{key}\" {keyProblem}");
            }

            if (tagValue.Length > 0 && RequestTags.ValueProblem(tagValue) is { } valueProblem)
            {
                return (null, $"--tag {key}: the value {valueProblem}");
            }

            identity[key] = tagValue;
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in result.GetValue(NamespaceLabel) ?? [])
        {
            if (!TrySplit(value, out var key, out var labelValue))
            {
                return (null, $"--namespace-label: expected key=value (got \"{value}\")");
            }

            labels[key] = labelValue;
        }

        if (result.GetValue(MaxRequestBytes) <= 0)
        {
            return (null, "--max-request-bytes: must be positive");
        }

        if (result.GetValue(DefaultMaxOutputTokens) <= 0)
        {
            return (null, "--default-max-output-tokens: must be positive");
        }

        if (result.GetValue(MaxLabelValues) <= 0)
        {
            return (null, "--max-label-values: must be positive");
        }

        InputEstimateMode inputEstimate;
        switch (result.GetValue(InputEstimate))
        {
            case "tokenizer": inputEstimate = InputEstimateMode.Tokenizer; break;
            case "bytes": inputEstimate = InputEstimateMode.Bytes; break;
            case var other: return (null, $"--input-estimate: expected tokenizer or bytes (got \"{other}\")");
        }

        var ledger = result.GetValue(Ledger)!;
        var ledgerSettings = new RedisLedgerSettings(
            ledger, result.GetValue(LedgerUser), result.GetValue(LedgerPasswordFile), result.GetValue(LedgerCa), result.GetValue(LedgerCert), result.GetValue(LedgerKey));
        if (MeterOptions.IsRedisLedger(ledger))
        {
            try
            {
                _ = ledgerSettings.ToOptions(RedisLedgerAccess.ReadWrite);
            }
            catch (FormatException ex)
            {
                return (null, $"--ledger: {ex.Message}");
            }
        }
        else if (ledgerSettings is { User: not null } or { PasswordFile: not null } or { CaFile: not null } or { CertificateFile: not null } or { KeyFile: not null })
        {
            return (null, "--ledger-user, --ledger-password-file, --ledger-ca, --ledger-cert and --ledger-key apply to a Redis ledger (redis:// or rediss://) only");
        }

        var allowUnmetered = result.GetValue(AllowUnmetered) ?? [];
        foreach (var glob in allowUnmetered)
        {
            if (!glob.StartsWith('/') || glob.Length > 256 || glob.Any(c => char.IsControl(c) || c is '%' or '\\' or ';' or '?' or '#'))
            {
                return (null, $"--allow-unmetered: expected a path glob such as /v1/files* (got \"{glob}\")");
            }
        }

        var (keyBroker, keyBrokerError) = ParseKeyBroker(result.GetValue(KeyBroker), result.GetValue(KeyBrokerToken), result.GetValue(KeyBrokerCa));
        if (keyBrokerError is not null)
        {
            return (null, keyBrokerError);
        }

        // With a key broker the keys come from it alone: a stray variable must not become a second source.
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        if (keyBroker is null && environment("TOLLGATE_ANTHROPIC_API_KEY") is { Length: > 0 } anthropicKey)
        {
            keys["anthropic"] = anthropicKey;
        }

        if (keyBroker is null && environment("TOLLGATE_OPENAI_API_KEY") is { Length: > 0 } openAiKey)
        {
            keys["openai"] = openAiKey;
        }

        var options = new MeterOptions
        {
            Listen = result.GetValue(Listen)!,
            AdminListen = result.GetValue(AdminListen)!,
            PolicyPath = result.GetValue(Policy),
            PricingPath = result.GetValue(Pricing),
            Upstreams = upstreams,
            UpstreamCaPath = upstreamCa,
            Ledger = ledger,
            LedgerUser = ledgerSettings.User,
            LedgerPasswordFile = ledgerSettings.PasswordFile,
            LedgerCaPath = ledgerSettings.CaFile,
            LedgerCertificatePath = ledgerSettings.CertificateFile,
            LedgerKeyPath = ledgerSettings.KeyFile,
            SpoolPath = result.GetValue(Spool),
            SecretsDirectory = result.GetValue(SecretsDir)!,
            RequiredTags = [.. result.GetValue(RequiredTags)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
            IdentityTags = identity,
            Namespace = result.GetValue(Namespace)!,
            NamespaceLabels = labels,
            MaxRequestBodyBytes = result.GetValue(MaxRequestBytes),
            DefaultMaxOutputTokens = result.GetValue(DefaultMaxOutputTokens),
            MaxLabelValues = result.GetValue(MaxLabelValues),
            InputEstimate = inputEstimate,
            ApiKeys = keys,
            KeyBroker = keyBroker,
            KeyBrokerTokenPath = keyBroker is null ? null : result.GetValue(KeyBrokerToken),
            KeyBrokerCaPath = keyBroker is null ? null : result.GetValue(KeyBrokerCa),
            AllowUnmetered = allowUnmetered,
        };
        return (options, null);
    }

    /// <summary>
    /// The key broker's URL and files. https only, to loopback too: provider keys travel on this connection, and a test
    /// or a developer's fake broker can serve TLS as easily as the operator does (its CA is <c>--key-broker-ca</c>).
    /// </summary>
    private static (Uri? Broker, string? Error) ParseKeyBroker(string? url, string? token, string? ca)
    {
        if (url is null)
        {
            return token is not null || ca is not null ? (null, "--key-broker-token and --key-broker-ca apply with --key-broker only") : (null, null);
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var broker) || broker.Scheme != Uri.UriSchemeHttps)
        {
            return (null, $"--key-broker: expected an https:// URL (got \"{url}\"); provider keys never travel in clear text");
        }

        if (broker.UserInfo.Length > 0 || broker.Query.Length > 0 || broker.Fragment.Length > 0)
        {
            return (null, $"--key-broker: \"{url}\" must have no user, query or fragment");
        }

        if (token is null)
        {
            return (null, "--key-broker-token: required with --key-broker (the file the kubelet writes the projected service-account token to)");
        }

        if (!File.Exists(token))
        {
            return (null, $"--key-broker-token: \"{token}\" does not exist");
        }

        if (ca is null)
        {
            return (null, "--key-broker-ca: required with --key-broker (the broker is trusted through this CA only)");
        }

        try
        {
            _ = Keys.KeyBrokerTrust.LoadBundle(ca);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return (null, $"--key-broker-ca: \"{ca}\" {Reason(ex)}");
        }

        return (broker, null);
    }

    private static RootCommand Build()
    {
        var root = new RootCommand("Tollgate meter: a metering, budgeting reverse proxy for the Anthropic and OpenAI APIs.");
        foreach (var option in new Option[] { Listen, AdminListen, Policy, Pricing, Upstream, UpstreamCa, Ledger, LedgerUser, LedgerPasswordFile, LedgerCa, LedgerCert, LedgerKey, KeyBroker, KeyBrokerToken, KeyBrokerCa, Spool, SecretsDir, RequiredTags, Tag, Namespace, NamespaceLabel, MaxRequestBytes, DefaultMaxOutputTokens, InputEstimate, MaxLabelValues, AllowUnmetered })
        {
            root.Options.Add(option);
        }

        return root;
    }

    private static string Reason(Exception ex) => ex switch
    {
        FileNotFoundException or DirectoryNotFoundException => "does not exist",
        UnauthorizedAccessException => "cannot be read (permission denied)",
        InvalidDataException => ex.Message,
        _ => "cannot be read: " + ex.Message,
    };

    private static bool TrySplit(string value, out string key, out string rest)
    {
        var equals = value.IndexOf('=', StringComparison.Ordinal);
        key = equals > 0 ? value[..equals].Trim() : string.Empty;
        rest = equals > 0 ? value[(equals + 1)..].Trim() : string.Empty;
        return equals > 0 && rest.Length > 0;
    }

    internal static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
