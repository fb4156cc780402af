using System.Globalization;
using System.Text;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;

namespace Tollgate.Cli.Audit;

/// <summary>One scope's baseline and the cap proposed from it.</summary>
/// <param name="Periods">Complete periods the baseline is computed over (periods the input only partly covers are left out).</param>
/// <param name="Average">Mean spend per complete period, periods without spend included.</param>
public sealed record Recommendation(string Scope, int Periods, decimal Average, decimal P95, decimal Max, decimal Limit);

/// <summary>
/// Proposes a dollar cap per team, repository or pipeline from recorded usage: the average spend per period moved by
/// the headroom (the rollout advice is 20% below the historical average, in audit mode first). Keeps one total per
/// scope and period, never the events.
/// </summary>
public sealed class Recommender(string by, BudgetPeriod period, decimal headroom)
{
    private readonly Dictionary<string, Dictionary<DateTimeOffset, decimal>> _totals = new(StringComparer.Ordinal);
    private DateTimeOffset? _first;
    private DateTimeOffset _last;

    public long Events { get; private set; }

    public long Untagged { get; private set; }

    public void Add(UsageEvent e)
    {
        Events++;
        _first = _first is { } f && f <= e.Time ? f : e.Time;
        _last = e.Time > _last ? e.Time : _last;
        if (!e.Tags.TryGetValue(by, out var scope) || scope.Length == 0)
        {
            // No budget can match an absent tag by value; the meter's --required-tags keeps these rare.
            Untagged++;
            return;
        }

        if (!_totals.TryGetValue(scope, out var periods))
        {
            periods = [];
            _totals[scope] = periods;
        }

        var start = PeriodWindow.Containing(period, e.Time).Start;
        periods[start] = periods.GetValueOrDefault(start) + e.CostUsd;
    }

    public IReadOnlyList<Recommendation> Recommend()
    {
        if (_first is not { } first)
        {
            return [];
        }

        // The input covers whole days from the first event's midnight to the last event's next midnight.
        var coveredFrom = new DateTimeOffset(first.UtcDateTime.Date, TimeSpan.Zero);
        var coveredTo = new DateTimeOffset(_last.UtcDateTime.Date, TimeSpan.Zero).AddDays(1);
        var complete = new List<DateTimeOffset>();
        for (var w = PeriodWindow.Containing(period, coveredFrom); w.Start < coveredTo; w = PeriodWindow.Containing(period, w.End))
        {
            if (w.Start >= coveredFrom && w.End <= coveredTo)
            {
                complete.Add(w.Start);
            }
        }

        var list = new List<Recommendation>();
        foreach (var (scope, totals) in _totals.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            if (complete.Count == 0)
            {
                continue;
            }

            var values = complete.Select(start => totals.GetValueOrDefault(start)).ToList();
            var average = values.Sum() / values.Count;
            list.Add(new Recommendation(scope, values.Count, Math.Round(average, 2), Math.Round(SpendForecast.Percentile(values, 0.95), 2), Math.Round(values.Max(), 2),
                Math.Round(average * (1 + headroom), 2, MidpointRounding.AwayFromZero)));
        }

        return list;
    }

    /// <summary>One AiBudget per scope, with the evidence as comments, ready for <c>kubectl apply -f</c> and <c>--policy</c>.</summary>
    public string ToYaml(IReadOnlyList<Recommendation> recommendations, string source)
    {
        var periodName = period switch { BudgetPeriod.Day => "day", BudgetPeriod.Week => "week", _ => "month" };
        var yaml = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        yaml.AppendLine(c, $"# Proposed by `meter recommend --by {by} --period {periodName} --headroom {headroom * 100:+0.##;-0.##;0}%` from {source}");
        yaml.AppendLine(c, $"# ({Events} events, {_first:yyyy-MM-dd} to {_last:yyyy-MM-dd}). Caps are in audit mode: watch them with `meter backtest`");
        yaml.AppendLine("# and the dashboards, then switch enforcement to block.");
        foreach (var r in recommendations)
        {
            yaml.AppendLine("---");
            yaml.AppendLine(c, $"# {by} \"{r.Scope}\": {r.Periods} complete {periodName}s; average ${r.Average:0.00}/{periodName}, P95 ${r.P95:0.00}, max ${r.Max:0.00}.");
            yaml.AppendLine(c, $"# Cap: average × {1 + headroom:0.###} = ${r.Limit:0.00}.");
            yaml.AppendLine("apiVersion: tollgate.io/v1alpha1");
            yaml.AppendLine("kind: AiBudget");
            yaml.AppendLine("metadata:");
            yaml.AppendLine(c, $"  name: {Name(r.Scope, periodName)}");
            yaml.AppendLine("spec:");
            yaml.AppendLine("  match:");
            yaml.AppendLine(c, $"    metadata: {{ {by}: \"{r.Scope.Replace("\"", "\\\"", StringComparison.Ordinal)}\" }}");
            yaml.AppendLine(c, $"  limit: {{ amount: {Math.Max(r.Limit, 0.01m):0.00}, unit: usd, period: {periodName} }}");
            yaml.AppendLine("  enforcement: audit");
            yaml.AppendLine("  alerts: { thresholds: [75, 90, 100] }");
        }

        return yaml.ToString();
    }

    private string Name(string scope, string periodName)
    {
        var slug = new StringBuilder();
        foreach (var ch in $"{by}-{scope}".ToLowerInvariant())
        {
            slug.Append(char.IsAsciiLetterOrDigit(ch) ? ch : '-');
        }

        var name = slug.ToString().Trim('-');
        if (name.Length > 50)
        {
            name = name[..50].Trim('-');
        }

        return $"{name}-{periodName}ly".Replace("dayly", "daily", StringComparison.Ordinal);
    }
}
