namespace Tollgate.Cli.Audit;

/// <summary>The backtest's result, as printed and as written by --json (snake_case).</summary>
public sealed record BacktestReport(
    string Source,
    long Events,
    long SkippedOutsideRange,
    long MalformedLines,
    IReadOnlyList<MalformedLine> FirstMalformed,
    long OutOfOrderEvents,
    double WorstLagSeconds,
    DateTimeOffset? From,
    DateTimeOffset? To,
    IReadOnlyList<ScopeReport> Scopes);

/// <param name="OverLimitRequests">Requests charged after the period's limit was reached: what an audit budget would block if enforced.</param>
/// <param name="PeakUsedPercent">The highest share of the limit used in any one period.</param>
public sealed record ScopeReport(
    string Budget,
    string Scope,
    string Unit,
    string Period,
    decimal Limit,
    string Enforcement,
    decimal Spend,
    int Periods,
    decimal PeakUsedPercent,
    long OverLimitRequests,
    IReadOnlyList<ThresholdReport> Thresholds,
    long Blocked,
    decimal BlockedCostUsd,
    long Fallbacks,
    IReadOnlyList<TopEntry> BlockedByPipeline,
    IReadOnlyList<TopEntry> BlockedByAgentStep,
    ForecastReport? Forecast);

/// <param name="FirstFired">The first time the threshold was crossed.</param>
/// <param name="Periods">In how many periods it was crossed.</param>
public sealed record ThresholdReport(int Percent, DateTimeOffset FirstFired, int Periods);

public sealed record TopEntry(string Name, long Requests, decimal CostUsd);

/// <param name="Periods">Complete periods with a mid-period forecast.</param>
/// <param name="MeanAbsoluteErrorPercent">|forecast − actual| / actual, averaged over those periods.</param>
public sealed record ForecastReport(int Periods, double MeanAbsoluteErrorPercent, decimal LastForecast, decimal LastActual);
