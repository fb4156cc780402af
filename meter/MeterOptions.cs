using Tollgate.Core.Estimation;
using Tollgate.Core.Tagging;

namespace Tollgate.Meter;

/// <summary>Everything the meter is told at start-up (command line, or the sidecar arguments the operator writes).</summary>
public sealed record MeterOptions
{
    public const int DefaultMaxLabelValues = 1000;

    /// <summary>Proxy endpoint, <c>host:port</c>. Default <c>127.0.0.1:8787</c>.</summary>
    public string Listen { get; init; } = "127.0.0.1:8787";

    /// <summary>Admin endpoint for <c>/metrics</c>, <c>/healthz</c>, <c>/startupz</c>, <c>/readyz</c>. Default <c>127.0.0.1:9464</c>.</summary>
    public string AdminListen { get; init; } = "127.0.0.1:9464";

    /// <summary>A YAML file or a folder of them with AiBudget/AiRoutingRule manifests; none means no budgets.</summary>
    public string? PolicyPath { get; init; }

    /// <summary>A pricing catalog replacing the embedded one.</summary>
    public string? PricingPath { get; init; }

    /// <summary>Upstream origins (with an optional path prefix) by provider.</summary>
    public IReadOnlyDictionary<string, Uri> Upstreams { get; init; } = new Dictionary<string, Uri>
    {
        ["anthropic"] = new("https://api.anthropic.com"),
        ["openai"] = new("https://api.openai.com"),
    };

    /// <summary>
    /// A PEM bundle of certificate authorities trusted for upstream TLS in addition to the system trust store (which
    /// stays the default). None by default.
    /// </summary>
    public string? UpstreamCaPath { get; init; }

    /// <summary>
    /// Journal file of the embedded ledger, or <c>memory</c> to keep nothing. Default <c>.tollgate/ledger.jsonl</c>: the
    /// meter's state stays in one directory (ignored by git) instead of littering the working tree.
    /// </summary>
    public string Ledger { get; init; } = DefaultLedger;

    /// <summary>Where the meter keeps its state when no path is given.</summary>
    public const string DataDirectory = ".tollgate";

    public const string DefaultLedger = DataDirectory + "/ledger.jsonl";

    /// <summary>True for a <c>redis://</c> or <c>rediss://</c> ledger address.</summary>
    public static bool IsRedisLedger(string ledger) =>
        ledger.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || ledger.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The Redis ledger's ACL user, when the address names none (<c>--ledger-user</c>).</summary>
    public string? LedgerUser { get; init; }

    /// <summary>A file holding the Redis ledger's password (<c>--ledger-password-file</c>), so it shows in no process listing.</summary>
    public string? LedgerPasswordFile { get; init; }

    /// <summary>PEM certificate authorities the <c>rediss://</c> ledger's certificate must chain to (<c>--ledger-ca</c>).</summary>
    public string? LedgerCaPath { get; init; }

    /// <summary>PEM client certificate for a <c>rediss://</c> ledger that asks for one (<c>--ledger-cert</c>).</summary>
    public string? LedgerCertificatePath { get; init; }

    /// <summary>PEM key of <see cref="LedgerCertificatePath"/>, unless that file holds it (<c>--ledger-key</c>).</summary>
    public string? LedgerKeyPath { get; init; }

    /// <summary>The Redis ledger as the command line names it.</summary>
    public Tollgate.Core.Redis.RedisLedgerSettings LedgerSettings =>
        new(Ledger, LedgerUser, LedgerPasswordFile, LedgerCaPath, LedgerCertificatePath, LedgerKeyPath);

    /// <summary>The ledger as it may be printed: a Redis address's password masked.</summary>
    public string PrintableLedger => Tollgate.Core.Redis.RedisLedgerAddress.Redact(Ledger);

    /// <summary>Tags every request must carry. Default team, repo, pipeline.</summary>
    public IReadOnlyList<string> RequiredTags { get; init; } = TagKeys.RequiredByDefault;

    /// <summary>Tags from the pod's identity; a request header cannot override them.</summary>
    public IReadOnlyDictionary<string, string> IdentityTags { get; init; } = new Dictionary<string, string>();

    /// <summary>The Kubernetes namespace requests come from; empty in standalone mode.</summary>
    public string Namespace { get; init; } = string.Empty;

    /// <summary>Labels of that namespace, for <c>namespaceSelector</c> matches.</summary>
    public IReadOnlyDictionary<string, string> NamespaceLabels { get; init; } = new Dictionary<string, string>();

    /// <summary>Largest request body accepted (413 above). Default 32 MiB, Anthropic's own limit.</summary>
    public long MaxRequestBodyBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Output tokens reserved for a request that sets no max tokens. Default 4096.</summary>
    public long DefaultMaxOutputTokens { get; init; } = 4096;

    /// <summary>
    /// The file usage is spooled to while the ledger cannot take it. Default: the ledger journal's path plus
    /// <c>.spool</c>; in memory for <c>--ledger memory</c>.
    /// </summary>
    public string? SpoolPath { get; init; }

    /// <summary>
    /// Where routing rules' <c>apiKeySecretRef</c>s are read: <c>&lt;dir&gt;/&lt;secret name&gt;/&lt;key&gt;</c>, the layout of
    /// Secrets mounted as volumes. Default <c>/etc/tollgate/secrets</c>.
    /// </summary>
    public string SecretsDirectory { get; init; } = "/etc/tollgate/secrets";

    /// <summary>How input tokens are estimated for reservations and abandoned streams. Default: the o200k tokenizer.</summary>
    public InputEstimateMode InputEstimate { get; init; } = InputEstimateMode.Tokenizer;

    /// <summary>Provider API keys held by the meter (from <c>TOLLGATE_ANTHROPIC_API_KEY</c> / <c>TOLLGATE_OPENAI_API_KEY</c>).</summary>
    public IReadOnlyDictionary<string, string> ApiKeys { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The operator's key broker (<c>--key-broker</c>, https only): provider keys, routing rules' Secrets and, unless the
    /// ledger address or <c>--ledger-password-file</c> gives them, the ledger's credentials come from it instead of the
    /// environment and <c>--secrets-dir</c>. None by default.
    /// </summary>
    public Uri? KeyBroker { get; init; }

    /// <summary>The file holding the bearer token for the key broker (<c>--key-broker-token</c>), re-read at every fetch.</summary>
    public string? KeyBrokerTokenPath { get; init; }

    /// <summary>PEM certificate authorities the key broker's certificate must chain to, and the only ones trusted for it (<c>--key-broker-ca</c>).</summary>
    public string? KeyBrokerCaPath { get; init; }

    /// <summary>
    /// Distinct values each client-supplied metric label (team, repo, pipeline, agent_step, model) may take in this
    /// process; later values are published as <c>__overflow__</c>. Budgets and the usage stream always see the real
    /// value. Default 1000.
    /// </summary>
    public int MaxLabelValues { get; init; } = DefaultMaxLabelValues;

    /// <summary>How long an upstream may stay silent before the request is abandoned. Default 10 minutes.</summary>
    public TimeSpan UpstreamActivityTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Path globs of endpoints the meter does not meter but lets through, unmetered and without its provider key
    /// (<c>--allow-unmetered</c>). Every other unknown endpoint is refused with 403.
    /// </summary>
    public IReadOnlyList<string> AllowUnmetered { get; init; } = [];
}
