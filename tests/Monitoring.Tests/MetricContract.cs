namespace Tollgate.Monitoring.Tests;

/// <summary>
/// The Prometheus names of metric contract (docs/architecture.md, README "Metrics") (and the meter's operational series listed in the README)
/// that dashboards and rules may read. A name outside this list in a query is a typo or a metric nobody publishes.
/// </summary>
internal static class MetricContract
{
    /// <summary>
    /// Published by the meters and, in a cluster, again by the exporter: queries pick one source by job. Taken from the
    /// contract both publishers are built from (<see cref="Core.Metrics.MetricContract"/>), so this list cannot drift from them.
    /// </summary>
    public static readonly IReadOnlySet<string> Usage = Shared(histograms: false);

    public static readonly IReadOnlySet<string> UsageHistograms = Shared(histograms: true);

    /// <summary>Published only by the meters (job tollgate-meter), whatever source a dashboard has selected.</summary>
    public static readonly IReadOnlySet<string> MeterOnly = new HashSet<string>(StringComparer.Ordinal)
    {
        "tollgate_unpriced_model_requests_total",
        "tollgate_ledger_ready",
        "tollgate_usage_spooled_records",
        "tollgate_fallbacks_total",
        "tollgate_route_attempts_total",
    };

    public static readonly IReadOnlySet<string> MeterOnlyHistograms = new HashSet<string>(StringComparer.Ordinal)
    {
        "tollgate_meter_overhead_seconds",
    };

    private static HashSet<string> Shared(bool histograms) =>
        Core.Metrics.MetricContract.Usage.Concat(Core.Metrics.MetricContract.Budgets)
            .Where(f => (f.Type == Core.Metrics.MetricFamily.Histogram) == histograms)
            .Select(f => f.Name)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>The series name as published: histograms appear as _bucket, _sum and _count.</summary>
    public static string Family(string name)
    {
        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                var family = name[..^suffix.Length];
                if (UsageHistograms.Contains(family) || MeterOnlyHistograms.Contains(family))
                {
                    return family;
                }
            }
        }

        return name;
    }

    public static bool IsUsage(string name) => Usage.Contains(Family(name)) || UsageHistograms.Contains(Family(name));

    public static bool IsMeterOnly(string name) => MeterOnly.Contains(Family(name)) || MeterOnlyHistograms.Contains(Family(name));

    /// <summary>Histograms are only read through their series (a bare family name selects nothing).</summary>
    public static bool IsPublished(string name) =>
        Usage.Contains(name) || MeterOnly.Contains(name)
        || (Family(name) != name && (UsageHistograms.Contains(Family(name)) || MeterOnlyHistograms.Contains(Family(name))));
}
