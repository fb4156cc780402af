namespace Tollgate.Core.Metrics;

/// <summary>One metric family of the contract: what a scrape shows in <c># HELP</c> and <c># TYPE</c>, and its label names in order.</summary>
/// <param name="Name">The Prometheus name.</param>
/// <param name="Type"><c>counter</c>, <c>gauge</c> or <c>histogram</c>.</param>
/// <param name="Help">The help text, a full sentence with the unit.</param>
/// <param name="Labels">The label names, in the order every publisher writes them.</param>
/// <param name="Buckets">The upper bounds of a histogram's buckets (without +Inf); empty for other types.</param>
public sealed record MetricFamily(string Name, string Type, string Help, IReadOnlyList<string> Labels, IReadOnlyList<double> Buckets)
{
    public const string Counter = "counter";
    public const string Gauge = "gauge";
    public const string Histogram = "histogram";
}
