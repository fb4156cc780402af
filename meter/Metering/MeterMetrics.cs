using Prometheus;
using Tollgate.Core.Metrics;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Meter.Metering;

/// <summary>
/// Every metric the meter publishes, on one registry (the process default in production, a fresh one per host in tests).
/// The families it shares with the exporter come from <see cref="MetricContract"/>; label values missing from a request are the empty string.
/// Every series labelled with a client-supplied value (team, repo, pipeline, agent_step, model) is written through a
/// method here that folds values past <c>--max-label-values</c> into <see cref="LabelValueLimiter.OverflowValue"/>;
/// those collectors are private so that no call site can skip the fold.
/// </summary>
internal sealed class MeterMetrics
{
    private readonly FoldedLabel _team;
    private readonly FoldedLabel _repo;
    private readonly FoldedLabel _pipeline;
    private readonly FoldedLabel _agentStep;
    private readonly FoldedLabel _model;

    public MeterMetrics(CollectorRegistry registry, int maxLabelValues, ILogger logger)
    {
        Registry = registry;
        var factory = Metrics.WithCustomRegistry(registry);
        Tokens = CreateCounter(factory, MetricContract.Tokens);
        Cost = CreateCounter(factory, MetricContract.Cost);
        Requests = CreateCounter(factory, MetricContract.Requests);
        PromptLatency = CreateHistogram(factory, MetricContract.PromptLatency);
        TimeToFirstToken = CreateHistogram(factory, MetricContract.TimeToFirstToken);
        Overhead = factory.CreateHistogram("tollgate_meter_overhead_seconds", "Time the meter itself adds to a request (tagging, estimation, budget checks, settlement), in seconds.",
            new HistogramConfiguration { Buckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1] });
        BudgetLimit = CreateGauge(factory, MetricContract.BudgetLimit);
        BudgetSpent = CreateGauge(factory, MetricContract.BudgetSpent);
        BudgetUsedRatio = CreateGauge(factory, MetricContract.BudgetUsedRatio);
        BudgetForecast = CreateGauge(factory, MetricContract.BudgetForecast);
        UnpricedRequests = factory.CreateCounter("tollgate_unpriced_model_requests_total",
            "Requests for models missing from the pricing catalog, priced at the fail-safe fallback rate.", ["provider", "model"]);
        EstimatedUsage = factory.CreateCounter("tollgate_usage_estimated_total",
            "Responses whose usage was estimated because the provider never reported it (abandoned or cut streams).", ["provider"]);
        PolicyReloads = factory.CreateCounter("tollgate_policy_reloads_total", "Policy loads, by result (success, failure).", ["result"]);
        KeyBrokerRefreshes = factory.CreateCounter("tollgate_key_broker_refreshes_total",
            "Credential fetches from the key broker, by outcome (ok, unauthenticated, forbidden, unavailable, unreachable, invalid_response, token_unreadable).", ["outcome"]);
        LedgerReady = CreateGauge(factory, MetricContract.LedgerReady);
        UsageSpooled = factory.CreateGauge("tollgate_usage_spooled_records", "Usage records waiting in the local spool for the ledger to return.");
        RouteAttempts = factory.CreateCounter("tollgate_route_attempts_total",
            "Upstream attempts of routed requests, by rule, target and result (success, failure, circuit_open).", ["rule", "provider", "model", "result"]);
        Fallbacks = factory.CreateCounter("tollgate_fallbacks_total",
            "Requests served by a fallback, by rule and kind (upstream, budget_model, budget_response).", ["rule", "kind"]);
        CacheLookups = factory.CreateCounter("tollgate_cache_lookups_total", "Response cache lookups, by result (hit, miss).", ["result"]);
        CacheSaved = CreateCounter(factory, MetricContract.CacheSaved);
        CacheEntries = factory.CreateGauge("tollgate_cache_entries", "Responses held by the response cache.");
        CacheBytes = factory.CreateGauge("tollgate_cache_bytes", "Bytes held by the response cache.");
        UsageReplayed = factory.CreateCounter("tollgate_usage_replayed_total", "Spooled usage records replayed into the ledger and usage stream.");
        LabelOverflow = CreateCounter(factory, MetricContract.LabelOverflow);
        _team = new FoldedLabel(new LabelValueLimiter(TagKeys.Team, maxLabelValues), LabelOverflow.WithLabels(TagKeys.Team), logger);
        _repo = new FoldedLabel(new LabelValueLimiter(TagKeys.Repo, maxLabelValues), LabelOverflow.WithLabels(TagKeys.Repo), logger);
        _pipeline = new FoldedLabel(new LabelValueLimiter(TagKeys.Pipeline, maxLabelValues), LabelOverflow.WithLabels(TagKeys.Pipeline), logger);
        _agentStep = new FoldedLabel(new LabelValueLimiter(TagKeys.AgentStep, maxLabelValues), LabelOverflow.WithLabels(TagKeys.AgentStep), logger);

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
        long[] counts = [usage.Input, usage.Output, usage.CacheRead, usage.CacheWrite, usage.Reasoning];
        for (var i = 0; i < counts.Length; i++)
        {
            AddTokens(folded, MetricContract.TokenTypes[i], counts[i]);
        }
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

    private static Counter CreateCounter(MetricFactory factory, MetricFamily family) => factory.CreateCounter(family.Name, family.Help, [.. family.Labels]);

    private static Gauge CreateGauge(MetricFactory factory, MetricFamily family) => factory.CreateGauge(family.Name, family.Help, [.. family.Labels]);

    private static Histogram CreateHistogram(MetricFactory factory, MetricFamily family) =>
        factory.CreateHistogram(family.Name, family.Help, new HistogramConfiguration { LabelNames = [.. family.Labels], Buckets = [.. family.Buckets] });

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
