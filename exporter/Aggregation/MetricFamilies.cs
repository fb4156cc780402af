using Tollgate.Core.Metrics;

namespace Tollgate.Exporter.Aggregation;

/// <summary>
/// Help text, type and label names of every usage family the exporter publishes: those it shares with the meter come
/// from <see cref="MetricContract"/>, so a scrape of either reads the same; the last one is the exporter's own.
/// </summary>
internal static class MetricFamilies
{
    public static readonly IReadOnlyDictionary<string, Family> All = MetricContract.Usage
        .Select(f => (f.Name, Family: new Family(f.Type, f.Help, [.. f.Labels], [.. f.Buckets])))
        .Append((Name: Streaming.UsageStreamConsumer.RejectedMetric, Family: new Family(MetricFamily.Counter,
            "Usage stream entries refused as invalid (acknowledged, copied to the dead-letter stream, never counted), by reason.", ["reason"], [])))
        .ToDictionary(f => f.Name, f => f.Family, StringComparer.Ordinal);

    internal sealed record Family(string Type, string Help, string[] Labels, double[] Buckets);
}
