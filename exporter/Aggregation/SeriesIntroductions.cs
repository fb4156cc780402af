namespace Tollgate.Exporter.Aggregation;

/// <summary>
/// A counter that appears already holding its first increments is undercounted by <c>increase()</c> and
/// <c>rate()</c>: Prometheus never saw it at zero. So a series born in this process is published at zero on the scrape
/// that first meets it, and with its value from the next one on. Series restored from saved totals are shown as they
/// are at once: showing them at zero after a restart would read as a counter reset and count them twice.
/// </summary>
internal sealed class SeriesIntroductions
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _shown = new(StringComparer.Ordinal);

    /// <summary>Marks every series of restored totals as already shown.</summary>
    public void Restored(UsageAggregate aggregate)
    {
        lock (_gate)
        {
            _shown.UnionWith(aggregate.Counters.Keys);
            _shown.UnionWith(aggregate.Histograms.Keys);
        }
    }

    /// <summary>True (and remembered) when this scrape is the series' first: publish it at zero.</summary>
    public bool Introduce(string metric, string[] labels)
    {
        lock (_gate)
        {
            return _shown.Add(UsageAggregate.Key(metric, labels));
        }
    }
}
