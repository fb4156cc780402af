using System.Text;
using Tollgate.Core.Metrics;

namespace Tollgate.Exporter.Aggregation;

/// <summary>Renders a <see cref="UsageAggregate"/> as the usage families of the metric contract.</summary>
internal static class UsageSeriesWriter
{
    /// <param name="firstSeen">Decides which series are shown at zero on their first scrape (see <see cref="SeriesIntroductions"/>).</param>
    public static void Write(UsageAggregate aggregate, StringBuilder output, SeriesIntroductions firstSeen)
    {
        var writer = new ExpositionWriter(output);
        var overflowAtZero = MetricContract.CappedLabels
            .Select(label => UsageAggregate.Key(MetricContract.LabelOverflow.Name, label))
            .Where(key => !aggregate.Counters.ContainsKey(key))
            .Select(key => new KeyValuePair<string, double>(key, 0));
        var counters = aggregate.Counters.Concat(overflowAtZero).Select(pair => (Split: UsageAggregate.Split(pair.Key), pair.Value)).ToLookup(s => s.Split.Metric);
        var histograms = aggregate.Histograms.Select(pair => (Split: UsageAggregate.Split(pair.Key), pair.Value)).ToLookup(s => s.Split.Metric);
        foreach (var (name, family) in MetricFamilies.All)
        {
            writer.Family(name, family.Type, family.Help);
            if (family.Type == "counter")
            {
                foreach (var (split, value) in counters[name].OrderBy(s => string.Join('\u001f', s.Split.Labels), StringComparer.Ordinal))
                {
                    writer.Sample(name, family.Labels, split.Labels, firstSeen.Introduce(name, split.Labels) ? 0 : value);
                }

                continue;
            }

            var bounds = family.Buckets;
            foreach (var (split, histogram) in histograms[name].OrderBy(s => string.Join('\u001f', s.Split.Labels), StringComparer.Ordinal))
            {
                var zero = firstSeen.Introduce(name, split.Labels);
                long cumulative = 0;
                for (var i = 0; i <= bounds.Length; i++)
                {
                    cumulative += zero ? 0 : histogram.Buckets[i];
                    var le = i < bounds.Length ? ExpositionWriter.Number(bounds[i]) : "+Inf";
                    writer.Sample(name + "_bucket", family.Labels, split.Labels, cumulative, ("le", le));
                }

                writer.Sample(name + "_sum", family.Labels, split.Labels, zero ? 0 : histogram.Sum);
                writer.Sample(name + "_count", family.Labels, split.Labels, cumulative);
            }
        }
    }
}
