using Prometheus;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Meter.Metering;

/// <summary>
/// Every metric the meter publishes, on one registry (the process default in production, a fresh one per host in tests).
/// Names and labels are the metric contract in docs/architecture.md; label values missing from a request are the empty string.
/// Every series labelled with a client-supplied value (team, repo, pipeline, agent_step, model) is written through a
/// method here that folds values past <c>--max-label-values</c> into <see cref="LabelValueLimiter.OverflowValue"/>;
/// those collectors are private so that no call site can skip the fold.
/// </summary>
internal sealed class MeterMetrics
{
    private static readonly string[] TokenLabels = ["namespace", "team", "repo", "pipeline", "agent_step", "provider", "model", "type"];
    private static readonly string[] CostLabels = ["namespace", "team", "repo", "pipeline", "agent_step", "provider", "model"];
    private static readonly string[] RequestLabels = ["namespace", "team", "repo", "provider", "model", "outcome"];
    private static readonly string[] LatencyLabels = ["namespace", "team", "repo", "provider", "model", "streaming"];
    private static readonly string[] TtftLabels = ["namespace", "team", "repo", "provider", "model"];
    private static readonly string[] BudgetLabels = ["budget", "scope", "unit", "period"];

    private readonly FoldedLabel _team;
    private readonly FoldedLabel _repo;
    private readonly FoldedLabel _pipeline;
    private readonly FoldedLabel _agentStep;
    private readonly FoldedLabel _model;

    public MeterMetrics(CollectorRegistry registry, int maxLabelValues, ILogger logger)
    {
        Registry = registry;
        var factory = Metrics.WithCustomRegistry(registry);
        Tokens = factory.CreateCounter("tollgate_tokens_total", "Tokens billed by the provider, by type (input, output, cache_read, cache_write, reasoning).", TokenLabels);
        Cost = factory.CreateCounter("tollgate_cost_usd_total", "Cost of metered requests in US dollars at catalog list prices.", CostLabels);
        Requests = factory.CreateCounter("tollgate_requests_total", "Requests seen by the meter, by outcome.", RequestLabels);
        PromptLatency = factory.CreateHistogram("tollgate_prompt_latency_seconds", "Time from request to the last byte of the response, in seconds.",
            new HistogramConfiguration { LabelNames = LatencyLabels, Buckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600] });
        TimeToFirstToken = factory.CreateHistogram("tollgate_time_to_first_token_seconds", "Time from request to the first byte of a streamed response, in seconds.",
            new HistogramConfiguration { LabelNames = TtftLabels, Buckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60] });
        Overhead = factory.CreateHistogram("tollgate_meter_overhead_seconds", "Time the meter itself adds to a request (tagging, estimation, budget checks, settlement), in seconds.",
            new HistogramConfiguration { Buckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1] });
        BudgetLimit = factory.CreateGauge("tollgate_budget_limit", "Budget limit per period, in the budget's unit.", BudgetLabels);
        BudgetSpent = factory.CreateGauge("tollgate_budget_spent", "Settled spend in the current period, in the budget's unit.", BudgetLabels);
        BudgetUsedRatio = factory.CreateGauge("tollgate_budget_used_ratio", "Settled spend divided by the limit (1 = exhausted).", BudgetLabels);
        BudgetForecast = factory.CreateGauge("tollgate_budget_forecast", "Spend projected to the end of the period at the current rate, in the budget's unit.", BudgetLabels);
        UnpricedRequests = factory.CreateCounter("tollgate_unpriced_model_requests_total",
            "Requests for models missing from the pricing catalog, priced at the fail-safe fallback rate.", ["provider", "model"]);
        EstimatedUsage = factory.CreateCounter("tollgate_usage_estimated_total",
            "Responses whose usage was estimated because the provider never reported it (abandoned or cut streams).", ["provider"]);
        PolicyReloads = factory.CreateCounter("tollgate_policy_reloads_total", "Policy loads, by result (success, failure).", ["result"]);
        KeyBrokerRefreshes = factory.CreateCounter("tollgate_key_broker_refreshes_total",
            "Credential fetches from the key broker, by outcome (ok, unauthenticated, forbidden, unavailable, unreachable, invalid_response, token_unreadable).", ["outcome"]);
        LedgerReady = factory.CreateGauge("tollgate_ledger_ready", "1 when the ledger records spend, 0 when it cannot.");
        UsageSpooled = factory.CreateGauge("tollgate_usage_spooled_records", "Usage records waiting in the local spool for the ledger to return.");
        RouteAttempts = factory.CreateCounter("tollgate_route_attempts_total",
            "Upstream attempts of routed requests, by rule, target and result (success, failure, circuit_open).", ["rule", "provider", "model", "result"]);
        Fallbacks = factory.CreateCounter("tollgate_fallbacks_total",
            "Requests served by a fallback, by rule and kind (upstream, budget_model, budget_response).", ["rule", "kind"]);
        CacheLookups = factory.CreateCounter("tollgate_cache_lookups_total", "Response cache lookups, by result (hit, miss).", ["result"]);
        CacheSaved = factory.CreateCounter("tollgate_cache_saved_usd_total", "Cost of the provider calls that cache hits avoided, in US dollars.", CostLabels);
        CacheEntries = factory.CreateGauge("tollgate_cache_entries", "Responses held by the response cache.");
        CacheBytes = factory.CreateGauge("tollgate_cache_bytes", "Bytes held by the response cache.");
        UsageReplayed = factory.CreateCounter("tollgate_usage_replayed_total", "Spooled usage records replayed into the ledger and usage stream.");
        LabelOverflow = factory.CreateCounter("tollgate_label_overflow_total",
            "Requests whose value of the label was published as __overflow__: the label already had --max-label-values distinct values (or, for model, the provider answered with an invalid name).", ["label"]);
        _team = new FoldedLabel(new LabelValueLimiter("team", maxLabelValues), LabelOverflow.WithLabels("team"), logger);
        _repo = new FoldedLabel(new LabelValueLimiter("repo", maxLabelValues), LabelOverflow.WithLabels("repo"), logger);
        _pipeline = new FoldedLabel(new LabelValueLimiter("pipeline", maxLabelValues), LabelOverflow.WithLabels("pipeline"), logger);
        _agentStep = new FoldedLabel(new LabelValueLimiter("agent_step", maxLabelValues), LabelOverflow.WithLabels("agent_step"), logger);

        // The request's model is validated before it gets here; the served model is the provider's word, checked too.
        _model = new FoldedLabel(new LabelValueLimiter("model", maxLabelValues, ModelName.IsValid), LabelOverflow.WithLabels("model"), logger);
    }

    public CollectorRegistry Registry { get; }

    private Counter Tokens { get; }

    private Counter Cost { get; }

    private Counter Requests { get; }

    private Histogram PromptLatency { get; }

    private Histogram TimeToFirstToken { get; }

    public Histogram Overhead { get; }

    public Gauge BudgetLimit { get; }

    public Gauge BudgetSpent { get; }

    public Gauge BudgetUsedRatio { get; }

    public Gauge BudgetForecast { get; }

    private Counter UnpricedRequests { get; }

    public Counter EstimatedUsage { get; }

    public Counter PolicyReloads { get; }

    public Counter KeyBrokerRefreshes { get; }

    public Gauge LedgerReady { get; }

    public Gauge UsageSpooled { get; }

    public Counter UsageReplayed { get; }

    public Counter RouteAttempts { get; }

    public Counter Fallbacks { get; }

    public Counter CacheLookups { get; }

    private Counter CacheSaved { get; }

    public Gauge CacheEntries { get; }

    public Gauge CacheBytes { get; }

    public Counter LabelOverflow { get; }

    public void RecordUsage(in UsageLabels labels, TokenUsage usage, decimal cost)
    {
        var folded = Fold(labels, count: false);
        AddTokens(folded, "input", usage.Input);
        AddTokens(folded, "output", usage.Output);
        AddTokens(folded, "cache_read", usage.CacheRead);
        AddTokens(folded, "cache_write", usage.CacheWrite);
        AddTokens(folded, "reasoning", usage.Reasoning);
        if (cost > 0)
        {
            Cost.WithLabels(folded.Namespace, folded.Team, folded.Repo, folded.Pipeline, folded.AgentStep, folded.Provider, folded.Model).Inc((double)cost);
        }
    }

    /// <summary>
    /// Counts the request under its outcome. Every request reaches this exactly once, so this is where a folded label
    /// is counted in <c>tollgate_label_overflow_total</c>: once per request, not once per series it touches.
    /// </summary>
    public void RecordRequest(in UsageLabels labels, string outcome)
    {
        var folded = Fold(labels, count: true);
        Requests.WithLabels(folded.Namespace, folded.Team, folded.Repo, folded.Provider, folded.Model, outcome).Inc();
    }

    public void RecordLatency(in UsageLabels labels, bool streaming, TimeSpan total, TimeSpan? firstToken)
    {
        var folded = Fold(labels, count: false);
        PromptLatency.WithLabels(folded.Namespace, folded.Team, folded.Repo, folded.Provider, folded.Model, streaming ? "true" : "false").Observe(total.TotalSeconds);
        if (firstToken is { } ttft)
        {
            TimeToFirstToken.WithLabels(folded.Namespace, folded.Team, folded.Repo, folded.Provider, folded.Model).Observe(ttft.TotalSeconds);
        }
    }

    public void RecordCacheSaved(in UsageLabels labels, decimal savedUsd)
    {
        var folded = Fold(labels, count: false);
        CacheSaved.WithLabels(folded.Namespace, folded.Team, folded.Repo, folded.Pipeline, folded.AgentStep, folded.Provider, folded.Model).Inc((double)savedUsd);
    }

    public void RecordUnpriced(string provider, string model) => UnpricedRequests.WithLabels(provider, _model.Fold(model, count: false)).Inc();

    // Namespace and provider are not folded: the first is the meter's own, the second a fixed set.
    private UsageLabels Fold(in UsageLabels labels, bool count) => labels with
    {
        Team = _team.Fold(labels.Team, count),
        Repo = _repo.Fold(labels.Repo, count),
        Pipeline = _pipeline.Fold(labels.Pipeline, count),
        AgentStep = _agentStep.Fold(labels.AgentStep, count),
        Model = _model.Fold(labels.Model, count),
    };

    private void AddTokens(in UsageLabels labels, string type, long count)
    {
        if (count > 0)
        {
            Tokens.WithLabels(labels.Namespace, labels.Team, labels.Repo, labels.Pipeline, labels.AgentStep, labels.Provider, labels.Model, type).Inc(count);
        }
    }

    /// <summary>One capped label and its overflow counter.</summary>
    private sealed class FoldedLabel(LabelValueLimiter limiter, Counter.Child overflow, ILogger logger)
    {
        private int _warned;

        public string Fold(string value, bool count)
        {
            if (limiter.TryAdmit(value))
            {
                return value;
            }

            if (count)
            {
                overflow.Inc();
                if (limiter.IsFull && Interlocked.Exchange(ref _warned, 1) == 0)
                {
                    Log.LabelOverflowed(logger, limiter.Label, limiter.MaxValues);
                }
            }

            return LabelValueLimiter.OverflowValue;
        }
    }
}
