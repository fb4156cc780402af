using Tollgate.Core.Metrics;
using Tollgate.Core.Tagging;

namespace Tollgate.Exporter.Aggregation;

/// <summary>
/// The exporter's cap on the labels whose values come from clients: namespace (the exporter sees every namespace's
/// events), team, repo, pipeline, agent_step and model. One limiter per label, shared by every family that carries it,
/// so a repo admitted for the token series is the same repo in the request and latency series.
/// </summary>
internal sealed class LabelLimits
{
    public static readonly string OverflowMetric = MetricContract.LabelOverflow.Name;

    public LabelLimits(int maxValues)
    {
        MaxValues = maxValues;
        Namespace = new LabelValueLimiter("namespace", maxValues);
        Team = new LabelValueLimiter(TagKeys.Team, maxValues);
        Repo = new LabelValueLimiter(TagKeys.Repo, maxValues);
        Pipeline = new LabelValueLimiter(TagKeys.Pipeline, maxValues);
        AgentStep = new LabelValueLimiter(TagKeys.AgentStep, maxValues);

        // Events come from meters, which validate the request's model; an older meter or the provider's answer may not.
        Model = new LabelValueLimiter("model", maxValues, ModelName.IsValid);
        All = [Namespace, Team, Repo, Pipeline, AgentStep, Model];
    }

    public int MaxValues { get; }

    public LabelValueLimiter Namespace { get; }

    public LabelValueLimiter Team { get; }

    public LabelValueLimiter Repo { get; }

    public LabelValueLimiter Pipeline { get; }

    public LabelValueLimiter AgentStep { get; }

    public LabelValueLimiter Model { get; }

    public IReadOnlyList<LabelValueLimiter> All { get; }

    /// <summary>
    /// Admits the values of totals saved by an earlier exporter and returns totals that fit the cap. Totals saved under
    /// a larger cap (or before there was one) may hold more values: per label, the values that used the most tokens
    /// keep their series (ties by name) and the others are merged into <c>__overflow__</c>, so every sum stays what it
    /// was. The merge is not counted in <c>tollgate_label_overflow_total</c>, which counts events as they arrive; the
    /// caller logs it.
    /// </summary>
    public (UsageAggregate Totals, IReadOnlyList<LabelFold> Folds) Restore(UsageAggregate saved)
    {
        var weights = All.ToDictionary(l => l.Label, _ => new Dictionary<string, double>(StringComparer.Ordinal), StringComparer.Ordinal);
        void Note(string metric, string[] values, double tokens)
        {
            if (!MetricFamilies.All.TryGetValue(metric, out var family))
            {
                return;
            }

            for (var i = 0; i < family.Labels.Length && i < values.Length; i++)
            {
                if (weights.TryGetValue(family.Labels[i], out var byValue))
                {
                    byValue[values[i]] = byValue.GetValueOrDefault(values[i]) + tokens;
                }
            }
        }

        foreach (var (key, value) in saved.Counters)
        {
            var (metric, values) = UsageAggregate.Split(key);
            Note(metric, values, metric == MetricContract.Tokens.Name ? value : 0);
        }

        foreach (var key in saved.Histograms.Keys)
        {
            var (metric, values) = UsageAggregate.Split(key);
            Note(metric, values, 0);
        }

        foreach (var key in saved.CostDaily.Values.SelectMany(row => row.Keys))
        {
            var (team, repo) = SplitTeamRepo(key);
            weights[Team.Label].TryAdd(team, 0);
            weights[Repo.Label].TryAdd(repo, 0);
        }

        var folds = new List<LabelFold>();
        foreach (var limiter in All)
        {
            var values = weights[limiter.Label];
            var refused = values.OrderByDescending(v => v.Value).ThenBy(v => v.Key, StringComparer.Ordinal).Count(v => !limiter.TryAdmit(v.Key));
            if (refused > 0)
            {
                folds.Add(new LabelFold(limiter.Label, values.Count, refused));
            }
        }

        if (folds.Count == 0)
        {
            return (saved, folds);
        }

        var totals = new UsageAggregate { Events = saved.Events, LastEntryId = saved.LastEntryId, BudgetDaily = saved.BudgetDaily };
        foreach (var (key, value) in saved.Counters)
        {
            var folded = Fold(key);
            totals.Counters[folded] = totals.Counters.GetValueOrDefault(folded) + value;
        }

        foreach (var (key, histogram) in saved.Histograms)
        {
            var folded = Fold(key);
            if (totals.Histograms.TryGetValue(folded, out var merged))
            {
                for (var i = 0; i < merged.Buckets.Length && i < histogram.Buckets.Length; i++)
                {
                    merged.Buckets[i] += histogram.Buckets[i];
                }

                merged.Sum += histogram.Sum;
            }
            else
            {
                totals.Histograms[folded] = new UsageAggregate.Histogram { Buckets = [.. histogram.Buckets], Sum = histogram.Sum };
            }
        }

        foreach (var (day, row) in saved.CostDaily)
        {
            var foldedRow = new Dictionary<string, decimal>(StringComparer.Ordinal);
            foreach (var (key, amount) in row)
            {
                var (team, repo) = SplitTeamRepo(key);
                var folded = UsageAggregate.TeamRepoKey(Team.Admit(team), Repo.Admit(repo));
                foldedRow[folded] = foldedRow.GetValueOrDefault(folded) + amount;
            }

            totals.CostDaily[day] = foldedRow;
        }

        return (totals, folds);
    }

    private string Fold(string key)
    {
        var (metric, values) = UsageAggregate.Split(key);
        if (!MetricFamilies.All.TryGetValue(metric, out var family))
        {
            return key;
        }

        for (var i = 0; i < family.Labels.Length && i < values.Length; i++)
        {
            if (All.FirstOrDefault(l => l.Label == family.Labels[i]) is { } limiter)
            {
                values[i] = limiter.Admit(values[i]);
            }
        }

        return UsageAggregate.Key(metric, values);
    }

    private static (string Team, string Repo) SplitTeamRepo(string key)
    {
        var parts = key.Split('|', 2);
        return (parts[0], parts.Length > 1 ? parts[1] : string.Empty);
    }
}

/// <summary>Distinct values of a label found in saved totals, and how many of them were merged into <c>__overflow__</c>.</summary>
internal sealed record LabelFold(string Label, int Distinct, int Folded);
