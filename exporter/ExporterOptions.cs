namespace Tollgate.Exporter;

/// <summary>The exporter's configuration (command line, or the Deployment the operator writes).</summary>
public sealed record ExporterOptions
{
    public const int DefaultMaxLabelValues = 1000;

    /// <summary>Endpoint for /metrics, /api/v1/usage, /healthz and /readyz. Default 0.0.0.0:9465.</summary>
    public string Listen { get; init; } = "0.0.0.0:9465";

    /// <summary>The shared ledger, <c>redis://host:port[/db]</c> (required).</summary>
    public string Ledger { get; init; } = string.Empty;

    /// <summary>The Redis ledger's ACL user (tollgate-exporter in a cluster), unless the address names it.</summary>
    public string? LedgerUser { get; init; }

    /// <summary>A file holding the Redis ledger's password.</summary>
    public string? LedgerPasswordFile { get; init; }

    /// <summary>PEM certificate authorities a <c>rediss://</c> ledger's certificate must chain to.</summary>
    public string? LedgerCaPath { get; init; }

    /// <summary>PEM client certificate for a <c>rediss://</c> ledger.</summary>
    public string? LedgerCertificatePath { get; init; }

    /// <summary>PEM key of <see cref="LedgerCertificatePath"/>, unless that file holds it.</summary>
    public string? LedgerKeyPath { get; init; }

    /// <summary>The Redis ledger as the command line names it.</summary>
    public Tollgate.Core.Redis.RedisLedgerSettings LedgerSettings =>
        new(Ledger, LedgerUser, LedgerPasswordFile, LedgerCaPath, LedgerCertificatePath, LedgerKeyPath);

    /// <summary>AiBudget/AiRoutingRule YAML (file or folder) for budget limits; reloaded when it changes.</summary>
    public string? PolicyPath { get; init; }

    /// <summary>File holding the bearer token the usage export API requires; the API is disabled without one.</summary>
    public string? TokenFile { get; init; }

    /// <summary>This exporter's name in the consumer group (one exporter runs at a time; the name keeps its pending entries its own).</summary>
    public string ConsumerName { get; init; } = "exporter-0";

    /// <summary>Where the aggregate is saved: <c>&lt;prefix&gt;exporter:&lt;StateName&gt;</c>.</summary>
    public string StateName { get; init; } = "state";

    /// <summary>
    /// Distinct values each client-supplied label (namespace, team, repo, pipeline, agent_step, model) may take in the
    /// published series; later values are counted under <c>__overflow__</c>. Default 1000.
    /// </summary>
    public int MaxLabelValues { get; init; } = DefaultMaxLabelValues;

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long a counted request id is remembered, so a duplicate append counts once. Default 3 days, the meter's replay window.</summary>
    public TimeSpan RequestIdWindow { get; init; } = new Core.Events.UsageStreamOptions().DedupeWindow;

    /// <summary>
    /// The most request ids remembered (the newest kept), so a flood of ids cannot grow Redis without bound. Default 3
    /// million: the 3-day window at a million requests a day, the meter's own sizing of its replay markers.
    /// </summary>
    public long MaxRequestIds { get; init; } = 3_000_000;

    /// <summary>About how many refused entries the dead-letter stream keeps (<c>XADD MAXLEN ~</c>). Default 10,000.</summary>
    public int DeadLetterMaxLength { get; init; } = 10_000;

    /// <summary>
    /// How long the consumer may go without finishing a read while entries wait for it before <c>/readyz</c> reports it
    /// stuck. Default 2 minutes.
    /// </summary>
    public TimeSpan StallAfter { get; init; } = TimeSpan.FromMinutes(2);
}
