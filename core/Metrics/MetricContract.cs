using Tollgate.Core.Tagging;

namespace Tollgate.Core.Metrics;

/// <summary>
/// The families the meter and the exporter both publish, defined once: names, help, label names in order, buckets,
/// token types and which requests are timed. The meter writes them through prometheus-net for its own requests, the
/// exporter by hand for the whole cluster from the usage stream; queries pick one source by job, so the two must not
/// differ in anything but the traffic they cover.
/// </summary>
public static class MetricContract
{
    /// <summary>The <c>type</c> label values of <see cref="Tokens"/>, in the order of <see cref="Usage.TokenUsage"/>'s fields.</summary>
    public static readonly IReadOnlyList<string> TokenTypes = ["input", "output", "cache_read", "cache_write", "reasoning"];

    public static readonly MetricFamily Tokens = new("tollgate_tokens_total", MetricFamily.Counter,
        "Tokens billed by the provider, by type (input, output, cache_read, cache_write, reasoning).",
        ["namespace", TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, TagKeys.AgentStep, "provider", "model", "type"], []);

    public static readonly MetricFamily Cost = new("tollgate_cost_usd_total", MetricFamily.Counter,
        "Cost of metered requests in US dollars at catalog list prices.",
        ["namespace", TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, TagKeys.AgentStep, "provider", "model"], []);

    public static readonly MetricFamily CacheSaved = new("tollgate_cache_saved_usd_total", MetricFamily.Counter,
        "Cost of the provider calls that cache hits avoided, in US dollars.",
        ["namespace", TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, TagKeys.AgentStep, "provider", "model"], []);

    public static readonly MetricFamily Requests = new("tollgate_requests_total", MetricFamily.Counter,
        "Requests seen by the meter, by outcome (forwarded, blocked, cached, fallback, rejected, upstream_error, unbilled, unmetered, error, aborted).",
        ["namespace", TagKeys.Team, TagKeys.Repo, "provider", "model", "outcome"], []);

    public static readonly MetricFamily PromptLatency = new("tollgate_prompt_latency_seconds", MetricFamily.Histogram,
        "Time from request to the last byte of the response, in seconds, for requests sent to a provider.",
        ["namespace", TagKeys.Team, TagKeys.Repo, "provider", "model", "streaming"], [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600]);

    public static readonly MetricFamily TimeToFirstToken = new("tollgate_time_to_first_token_seconds", MetricFamily.Histogram,
        "Time from request to the first byte of a streamed response, in seconds.",
        ["namespace", TagKeys.Team, TagKeys.Repo, "provider", "model"], [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]);

    public static readonly MetricFamily LabelOverflow = new("tollgate_label_overflow_total", MetricFamily.Counter,
        "Requests whose value of the label was published as __overflow__: the label already had --max-label-values distinct values (or, for model, the name was invalid).",
        ["label"], []);

    /// <summary>
    /// The <c>label</c> values of <see cref="LabelOverflow"/> both publish from the start, at zero until a value is
    /// folded, so that <c>increase()</c> sees the first overflow: the client-supplied labels. The exporter also caps
    /// namespace (it sees every meter's); that series appears when it first overflows.
    /// </summary>
    public static readonly IReadOnlyList<string> CappedLabels = [TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, TagKeys.AgentStep, "model"];

    public static readonly MetricFamily BudgetLimit = new("tollgate_budget_limit", MetricFamily.Gauge,
        "Budget limit per period, in the budget's unit.", BudgetLabels(), []);

    public static readonly MetricFamily BudgetSpent = new("tollgate_budget_spent", MetricFamily.Gauge,
        "Settled spend in the current period, in the budget's unit.", BudgetLabels(), []);

    public static readonly MetricFamily BudgetUsedRatio = new("tollgate_budget_used_ratio", MetricFamily.Gauge,
        "Settled spend divided by the limit (1 = exhausted).", BudgetLabels(), []);

    public static readonly MetricFamily BudgetForecast = new("tollgate_budget_forecast", MetricFamily.Gauge,
        "Spend projected to the end of the period (spent + P95 of the last 7 days' daily spend × days left; the period's run rate while there is no history), in the budget's unit.",
        BudgetLabels(), []);

    public static readonly MetricFamily LedgerReady = new("tollgate_ledger_ready", MetricFamily.Gauge,
        "1 when the ledger can be used, 0 when it cannot.", [], []);

    /// <summary>The usage families, in the order the exporter writes them.</summary>
    public static readonly IReadOnlyList<MetricFamily> Usage = [Tokens, Cost, CacheSaved, Requests, PromptLatency, TimeToFirstToken, LabelOverflow];

    /// <summary>The budget gauges, in the order both publishers write them.</summary>
    public static readonly IReadOnlyList<MetricFamily> Budgets = [BudgetLimit, BudgetSpent, BudgetUsedRatio, BudgetForecast];

    /// <summary>
    /// Whether a request is observed in <see cref="PromptLatency"/> (and, when streamed, <see cref="TimeToFirstToken"/>):
    /// exactly those sent to a provider, whatever it answered. A request the meter answered itself (blocked, rejected,
    /// cached, or the fixed response of a budget fallback) took no provider time; its near-zero latency would pull the
    /// quantiles of the provider and model down exactly when budgets run out.
    /// </summary>
    /// <param name="outcome">The <see cref="RequestOutcomes"/> value.</param>
    /// <param name="fallback">The routing decision's fallback kind (<see cref="Events.RouteDecision.Fallback"/>), or null.</param>
    public static bool ObservesLatency(string outcome, string? fallback) => outcome switch
    {
        RequestOutcomes.Forwarded or RequestOutcomes.UpstreamError or RequestOutcomes.Unbilled or RequestOutcomes.Unmetered => true,
        RequestOutcomes.Fallback => fallback != FallbackKinds.BudgetResponse,
        _ => false,
    };

    private static string[] BudgetLabels() => ["budget", "scope", "unit", "period"];
}
