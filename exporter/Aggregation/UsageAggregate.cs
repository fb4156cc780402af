using System.Text.Json;
using System.Text.Json.Serialization;
using Tollgate.Core.Events;
using Tollgate.Core.Metrics;
using Tollgate.Core.Tagging;

namespace Tollgate.Exporter.Aggregation;

/// <summary>
/// The running totals the exporter publishes, built from usage events: the same series the meter publishes for its own
/// requests, for the whole cluster. It is a pure function of the events applied, and it is saved with the stream
/// position it covers, so an exporter that restarts resumes from its totals instead of counting anything twice.
/// Not thread-safe: one consumer applies events; readers take a <see cref="Copy"/>.
/// </summary>
internal sealed class UsageAggregate
{
    private static readonly double[] LatencyBuckets = [.. MetricContract.PromptLatency.Buckets];
    private static readonly double[] TtftBuckets = [.. MetricContract.TimeToFirstToken.Buckets];

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>Counter values by series (<see cref="Key"/>; label order fixed per metric).</summary>
    public Dictionary<string, double> Counters { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Histograms by series: bucket counts (non-cumulative, one per bound plus +Inf), then sum.</summary>
    public Dictionary<string, Histogram> Histograms { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Per day (yyyy-MM-dd, UTC) the amount charged to each budget scope: <c>budget|scope|unit</c> → amount.</summary>
    public Dictionary<string, Dictionary<string, decimal>> BudgetDaily { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Per day the cost by team and repo (as the label cap admits them): <c>team|repo</c> → dollars.</summary>
    public Dictionary<string, Dictionary<string, decimal>> CostDaily { get; init; } = new(StringComparer.Ordinal);

    /// <summary>The id of the last stream entry applied ("0-0" before the first).</summary>
    public string LastEntryId { get; set; } = "0-0";

    public long Events { get; set; }

    /// <summary>
    /// Adds one request's event to every series it belongs to, under its label values as <paramref name="labels"/>
    /// admits them: a value past the cap is counted under <c>__overflow__</c>, and the event once per such label in
    /// <c>tollgate_label_overflow_total</c>.
    /// </summary>
    public void Apply(UsageEvent e, LabelLimits labels)
    {
        Events++;
        List<string>? folded = null;
        var ns = Fold(labels.Namespace, e.Namespace, ref folded);
        var team = Fold(labels.Team, Tag(e, TagKeys.Team), ref folded);
        var repo = Fold(labels.Repo, Tag(e, TagKeys.Repo), ref folded);
        var pipeline = Fold(labels.Pipeline, Tag(e, TagKeys.Pipeline), ref folded);
        var step = Fold(labels.AgentStep, Tag(e, TagKeys.AgentStep), ref folded);
        var model = Fold(labels.Model, e.Model, ref folded);
        foreach (var label in folded ?? [])
        {
            Add(Key(LabelLimits.OverflowMetric, label), 1);
        }

        long[] tokens = [e.Tokens.Input, e.Tokens.Output, e.Tokens.CacheRead, e.Tokens.CacheWrite, e.Tokens.Reasoning];
        for (var i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] > 0)
            {
                Add(Key(MetricContract.Tokens.Name, ns, team, repo, pipeline, step, e.Provider, model, MetricContract.TokenTypes[i]), tokens[i]);
            }
        }

        if (e.CostUsd > 0)
        {
            Add(Key(MetricContract.Cost.Name, ns, team, repo, pipeline, step, e.Provider, model), (double)e.CostUsd);
        }

        if (e.SavedUsd > 0)
        {
            Add(Key(MetricContract.CacheSaved.Name, ns, team, repo, pipeline, step, e.Provider, model), (double)e.SavedUsd);
        }

        Add(Key(MetricContract.Requests.Name, ns, team, repo, e.Provider, model, e.Outcome), 1);
        if (MetricContract.ObservesLatency(e.Outcome, e.Route?.Fallback))
        {
            Observe(Key(MetricContract.PromptLatency.Name, ns, team, repo, e.Provider, model, e.Streaming ? "true" : "false"), LatencyBuckets, e.LatencySeconds);
            if (e.TimeToFirstTokenSeconds is { } ttft)
            {
                Observe(Key(MetricContract.TimeToFirstToken.Name, ns, team, repo, e.Provider, model), TtftBuckets, ttft);
            }
        }

        var day = Day(e.Time);
        foreach (var charge in e.Budgets)
        {
            if (charge.Amount > 0)
            {
                AddDaily(BudgetDaily, day, $"{charge.Budget}|{charge.Scope}|{charge.Unit}", charge.Amount);
            }
        }

        if (e.CostUsd > 0)
        {
            AddDaily(CostDaily, day, TeamRepoKey(team, repo), e.CostUsd);
        }
    }

    /// <summary>Counts an entry the reader refused, under its reason (a closed set).</summary>
    public void Reject(string reason) => Add(Key(Streaming.UsageStreamConsumer.RejectedMetric, reason), 1);

    /// <summary>
    /// Forgets daily history older than <paramref name="keep"/> days before <paramref name="now"/>, and any day after
    /// tomorrow (state saved before events were checked may hold one dated 2099; it must not stay forever).
    /// </summary>
    public void Prune(DateTimeOffset now, int keep)
    {
        var horizon = Day(now.AddDays(-keep));
        var tomorrow = Day(now.AddDays(1));
        foreach (var table in new[] { BudgetDaily, CostDaily })
        {
            foreach (var day in table.Keys.Where(d => string.CompareOrdinal(d, horizon) < 0 || string.CompareOrdinal(d, tomorrow) > 0).ToList())
            {
                table.Remove(day);
            }
        }
    }

    public static string Day(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static UsageAggregate FromJson(string json) => JsonSerializer.Deserialize<UsageAggregate>(json, Json) ?? new UsageAggregate();

    /// <summary>A deep copy for readers (scrapes, forecasts) while the consumer keeps applying.</summary>
    public UsageAggregate Copy() => FromJson(ToJson());

    /// <summary>A series key: the metric name, a space, and the label values as a JSON array (any character may occur in a tag).</summary>
    public static string Key(string metric, params string[] labels) => metric + " " + JsonSerializer.Serialize(labels);

    /// <summary>Splits a key back into metric and label values.</summary>
    public static (string Metric, string[] Labels) Split(string key)
    {
        var space = key.IndexOf(' ', StringComparison.Ordinal);
        return (key[..space], JsonSerializer.Deserialize<string[]>(key[(space + 1)..]) ?? []);
    }

    /// <summary>The key of <see cref="CostDaily"/>.</summary>
    public static string TeamRepoKey(string team, string repo) => $"{team}|{repo}";

    private static string Tag(UsageEvent e, string key) => e.Tags.TryGetValue(key, out var value) ? value : string.Empty;

    private static string Fold(LabelValueLimiter limiter, string value, ref List<string>? folded)
    {
        if (limiter.TryAdmit(value))
        {
            return value;
        }

        (folded ??= []).Add(limiter.Label);
        return LabelValueLimiter.OverflowValue;
    }

    private static void AddDaily(Dictionary<string, Dictionary<string, decimal>> table, string day, string key, decimal amount)
    {
        if (!table.TryGetValue(day, out var row))
        {
            row = new Dictionary<string, decimal>(StringComparer.Ordinal);
            table[day] = row;
        }

        row[key] = row.GetValueOrDefault(key) + amount;
    }

    private void Add(string key, double amount) => Counters[key] = Counters.GetValueOrDefault(key) + amount;

    private void Observe(string key, double[] bounds, double value)
    {
        if (!Histograms.TryGetValue(key, out var histogram))
        {
            histogram = new Histogram { Buckets = new long[bounds.Length + 1] };
            Histograms[key] = histogram;
        }

        var index = Array.FindIndex(bounds, bound => value <= bound);
        histogram.Buckets[index < 0 ? bounds.Length : index]++;
        histogram.Sum += value;
    }

    internal sealed class Histogram
    {
        public long[] Buckets { get; set; } = [];

        public double Sum { get; set; }
    }
}
