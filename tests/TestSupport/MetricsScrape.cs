using System.Globalization;
using System.Text.RegularExpressions;

namespace Tollgate.TestSupport;

/// <summary>A parsed Prometheus text exposition, for asserting series values.</summary>
public sealed partial class MetricsScrape(string text)
{
    public string Text { get; } = text;

    /// <summary>The sum of every sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    public double Sum(string name, params (string Name, string Value)[] labels)
    {
        var total = 0.0;
        foreach (var line in Text.Split('\n'))
        {
            var match = Sample().Match(line);
            if (!match.Success || match.Groups["name"].Value != name)
            {
                continue;
            }

            var present = Label().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups["k"].Value, m => m.Groups["v"].Value);
            if (labels.All(l => present.TryGetValue(l.Name, out var v) && v == l.Value))
            {
                total += double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    public bool Has(string name, params (string Name, string Value)[] labels) =>
        Text.Split('\n').Any(line =>
        {
            var match = Sample().Match(line);
            if (!match.Success || match.Groups["name"].Value != name)
            {
                return false;
            }

            var present = Label().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups["k"].Value, m => m.Groups["v"].Value);
            return labels.All(l => present.TryGetValue(l.Name, out var v) && v == l.Value);
        });

    /// <summary>The distinct values <paramref name="label"/> takes on the samples of <paramref name="name"/>.</summary>
    public IReadOnlySet<string> Values(string name, string label)
    {
        var values = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in Text.Split('\n'))
        {
            var match = Sample().Match(line);
            if (match.Success && match.Groups["name"].Value == name
                && Label().Matches(match.Groups["labels"].Value).FirstOrDefault(m => m.Groups["k"].Value == label) is { } value)
            {
                values.Add(value.Groups["v"].Value);
            }
        }

        return values;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)")]
    private static partial Regex Sample();

    [GeneratedRegex("(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=\"(?<v>(?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex Label();
}
