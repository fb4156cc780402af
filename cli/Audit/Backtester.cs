using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Matching;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Tagging;

namespace Tollgate.Cli.Audit;

/// <summary>What the replay decided for one event (what the proxy would have answered).</summary>
public enum ReplayDecision
{
    Allowed,
    Blocked,
    FallbackModel,
    FallbackResponse,
}

/// <summary>
/// Replays usage events through the proxy's own admit and settle stages (<see cref="BudgetAdmitter"/>, <see cref="Settlement"/>) over an in-memory
/// <see cref="EmbeddedLedger"/>, with a <see cref="FakeTimeProvider"/> moved to each event's time. Each request is
/// admitted with its recorded tokens and cost as the estimate and settled before the next one, so admission sees what
/// was already spent; live, the estimate is the prompt's token count plus max_tokens and concurrent requests overlap,
/// which only matters for requests in flight when a budget runs out. Only per-scope aggregates are kept.
/// </summary>
/// <remarks>
/// Usage events carry no namespace labels, so budgets that select by <c>namespaceSelector</c> do not match in a
/// replay. An event recorded live after a budget fallback carries the model that served it (the cheaper one), and a
/// request blocked live was recorded with no tokens: replay such history knowing it already reflects a policy.
/// </remarks>
public sealed class Backtester
{
    private const int TopEntries = 5;
    private readonly PolicySnapshot _policy;
    private readonly PricingCatalog _pricing;
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch);
    private readonly Settlement _settlement;
    private readonly BudgetAdmitter _budgets;
    private readonly Dictionary<(string Budget, string Scope), ScopeStats> _scopes = [];
    private DateTimeOffset _latest = DateTimeOffset.MinValue;

    public Backtester(PolicySnapshot policy, PricingCatalog pricing)
    {
        _policy = policy;
        _pricing = pricing;

        // The proxy's own stages over an in-memory ledger; events go nowhere, only the budgets' counters matter.
        var ledger = EmbeddedLedger.InMemory(_clock);
        _settlement = new Settlement(new BudgetGuard(ledger, _clock), new UsageRecorder(ledger, NoUsageSink.Instance, UsageSpool.InMemory()), new DailySpendHistory(), _clock);
        _budgets = new BudgetAdmitter(_settlement);
    }

    public long Events { get; private set; }

    public long OutOfOrder { get; private set; }

    public TimeSpan WorstLag { get; private set; }

    public DateTimeOffset? First { get; private set; }

    public async ValueTask<ReplayDecision> ReplayAsync(UsageEvent e, CancellationToken cancellationToken)
    {
        Events++;
        First ??= e.Time;
        if (e.Time < _latest)
        {
            // The clock cannot run backwards; a late event is charged at the latest time seen (its window may differ).
            OutOfOrder++;
            WorstLag = _latest - e.Time > WorstLag ? _latest - e.Time : WorstLag;
        }
        else
        {
            _latest = e.Time;
            _clock.SetUtcNow(e.Time);
        }

        var request = new RequestContext(e.Namespace, RequestContext.NoLabels, e.Tags, e.Provider, e.Model);
        var verdict = await _budgets.AdmitAsync(_policy, request, request, _policy.RouteFor(request), canAnswerFixed: true, e.RequestId,
            model => new BudgetEstimate(e.Tokens, CostOf(e, model)), cancellationToken);
        var decision = verdict.Fallback switch
        {
            FallbackKinds.BudgetResponse => ReplayDecision.FallbackResponse,
            FallbackKinds.BudgetModel => ReplayDecision.FallbackModel,
            _ when verdict.Admission.Kind == AdmissionKind.Blocked => ReplayDecision.Blocked,
            _ => ReplayDecision.Allowed,
        };
        if (decision != ReplayDecision.Allowed)
        {
            var blocking = verdict.Blocked ?? verdict.Admission;
            var stats = Stats(blocking.BlockingBudget!, blocking.BlockingCharge!.Scope);
            if (decision == ReplayDecision.Blocked)
            {
                stats.Blocked++;
                stats.BlockedCost += e.CostUsd;
                stats.CountBlocked(e.Tags, e.CostUsd);
            }
            else
            {
                stats.Fallbacks++;
            }
        }

        var admission = verdict.Admission;
        if (admission.Kind != AdmissionKind.Allowed)
        {
            return decision;
        }

        var metered = new MeteredRequest(e.RequestId, 0, e.Namespace, e.Tags, e.Provider, verdict.Model, e.Streaming);
        var settled = await _settlement.SettleAsync(metered, admission, new RequestOutcome(e.Outcome, e.Status, TimeSpan.Zero)
        {
            Usage = e.Tokens,
            CostUsd = CostOf(e, verdict.Model),
        });
        var now = _clock.GetUtcNow();
        for (var i = 0; i < admission.Budgets.Count; i++)
        {
            var budget = admission.Budgets[i];
            Stats(budget, admission.Charges[i].Scope).Charge(budget, admission.Charges[i].Window, settled.Event.Budgets[i].Amount, now);
        }

        return decision;
    }

    /// <summary>What the event's tokens cost at <paramref name="model"/>: as recorded for its own model, priced for a fallback.</summary>
    private decimal CostOf(UsageEvent e, string model) =>
        model == e.Model ? e.CostUsd : _pricing.Resolve(e.Provider, model).Price.Cost(e.Tokens);

    public BacktestReport Report(string source, IReadOnlyList<MalformedLine> malformed, long skipped)
    {
        var end = _latest;
        var scopes = _scopes
            .OrderBy(pair => pair.Key.Budget, StringComparer.Ordinal)
            .ThenBy(pair => pair.Key.Scope, StringComparer.Ordinal)
            .Select(pair => pair.Value.ToReport(end))
            .ToList();
        return new BacktestReport(source, Events, skipped, malformed.Count, malformed.Take(20).ToList(), OutOfOrder, WorstLag.TotalSeconds, First, Events > 0 ? end : null, scopes);
    }

    private ScopeStats Stats(CompiledBudget budget, string scope)
    {
        if (!_scopes.TryGetValue((budget.Name, scope), out var stats))
        {
            stats = new ScopeStats(budget, scope);
            _scopes[(budget.Name, scope)] = stats;
        }

        return stats;
    }

    /// <summary>One budget's counter for one scope, across every period the input covers.</summary>
    private sealed class ScopeStats(CompiledBudget budget, string scope)
    {
        private readonly Dictionary<int, DateTimeOffset> _thresholdFirst = [];
        private readonly Dictionary<int, int> _thresholdPeriods = [];
        private readonly Dictionary<string, (long Count, decimal Cost)> _pipelines = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (long Count, decimal Cost)> _steps = new(StringComparer.Ordinal);
        private readonly decimal[] _days = new decimal[SpendForecast.HistoryDays];
        private readonly List<ForecastPoint> _forecasts = [];
        private PeriodWindow _window;
        private decimal _periodSpend;
        private decimal? _midForecast;
        private DateTimeOffset _day = DateTimeOffset.MinValue;
        private decimal _daySpend;
        private int _daysKnown;
        private readonly HashSet<int> _firedInPeriod = [];

        public long Blocked { get; set; }

        public decimal BlockedCost { get; set; }

        public long Fallbacks { get; set; }

        private decimal Spend { get; set; }

        private decimal PeakPercent { get; set; }

        private long OverLimitRequests { get; set; }

        private int Periods { get; set; }

        public void CountBlocked(IReadOnlyDictionary<string, string> tags, decimal blockedCost)
        {
            Add(_pipelines, tags.TryGetValue(TagKeys.Pipeline, out var pipeline) ? pipeline : "(none)");
            Add(_steps, tags.TryGetValue(TagKeys.AgentStep, out var step) ? step : "(none)");

            void Add(Dictionary<string, (long Count, decimal Cost)> into, string key)
            {
                var (count, cost) = into.GetValueOrDefault(key);
                into[key] = (count + 1, cost + blockedCost);
            }
        }

        public void Charge(CompiledBudget b, PeriodWindow window, decimal amount, DateTimeOffset now)
        {
            if (window.Start != _window.Start)
            {
                ClosePeriod(window.Start);
                _window = window;
                _periodSpend = 0;
                _midForecast = null;
                _firedInPeriod.Clear();
                Periods++;
            }

            RollDays(now);
            var mid = window.Start + (window.Length / 2);
            if (_midForecast is null && now >= mid && window.Length > TimeSpan.FromDays(1.5))
            {
                _midForecast = SpendForecast.Project(_periodSpend, History(), window, mid);
            }

            if (_periodSpend >= b.Limit && b.Limit > 0)
            {
                OverLimitRequests++;
            }

            _periodSpend += amount;
            _daySpend += amount;
            Spend += amount;
            var percent = b.Limit > 0 ? _periodSpend * 100 / b.Limit : 0;
            PeakPercent = Math.Max(PeakPercent, percent);
            foreach (var threshold in b.Thresholds.Count > 0 ? b.Thresholds : [100])
            {
                if (percent >= threshold && _firedInPeriod.Add(threshold))
                {
                    _thresholdFirst.TryAdd(threshold, now);
                    _thresholdPeriods[threshold] = _thresholdPeriods.GetValueOrDefault(threshold) + 1;
                }
            }
        }

        public ScopeReport ToReport(DateTimeOffset end)
        {
            if (end >= _window.End)
            {
                ClosePeriod(_window.End);
            }

            var errors = _forecasts.Select(f => f.Actual == 0 ? 0 : (double)Math.Abs((f.Forecast - f.Actual) / f.Actual)).ToList();
            return new ScopeReport(
                budget.Name, scope, budget.UnitName, budget.PeriodName, budget.Limit, budget.Audit ? "audit" : budget.HardCap ? "hardCap" : "block",
                Spend, Periods, Math.Round(PeakPercent, 1), OverLimitRequests,
                _thresholdFirst.OrderBy(t => t.Key).Select(t => new ThresholdReport(t.Key, t.Value, _thresholdPeriods[t.Key])).ToList(),
                Blocked, BlockedCost, Fallbacks, Top(_pipelines), Top(_steps),
                _forecasts.Count == 0 ? null : new ForecastReport(_forecasts.Count, Math.Round(errors.Average() * 100, 1), _forecasts[^1].Forecast, _forecasts[^1].Actual));
        }

        private static List<TopEntry> Top(Dictionary<string, (long Count, decimal Cost)> entries) =>
            [.. entries.OrderByDescending(e => e.Value.Count).ThenBy(e => e.Key, StringComparer.Ordinal).Take(TopEntries).Select(e => new TopEntry(e.Key, e.Value.Count, e.Value.Cost))];

        private void ClosePeriod(DateTimeOffset next)
        {
            if (_midForecast is { } forecast && next >= _window.End)
            {
                _forecasts.Add(new ForecastPoint(Math.Round(forecast, 4), _periodSpend));
                _midForecast = null;
            }
        }

        private void RollDays(DateTimeOffset now)
        {
            var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
            if (_day == DateTimeOffset.MinValue)
            {
                _day = today;
                return;
            }

            // Whole days that passed, including days without spend, enter the history the forecast reads.
            for (var d = _day; d < today && d < _day.AddDays(SpendForecast.HistoryDays + 1); d = d.AddDays(1))
            {
                _days[_daysKnown % _days.Length] = d == _day ? _daySpend : 0;
                _daysKnown++;
            }

            if (today > _day)
            {
                _day = today;
                _daySpend = 0;
            }
        }

        private List<decimal> History()
        {
            var count = Math.Min(_daysKnown, _days.Length);
            var list = new List<decimal>(count);
            for (var i = _daysKnown - count; i < _daysKnown; i++)
            {
                list.Add(_days[i % _days.Length]);
            }

            return list;
        }

        private readonly record struct ForecastPoint(decimal Forecast, decimal Actual);
    }
}
