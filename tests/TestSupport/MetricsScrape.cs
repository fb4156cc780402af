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

    /// <summary>
    /// Every sample of the families whose names <paramref name="family"/> accepts (histograms by their <c>_bucket</c>,
    /// <c>_sum</c> and <c>_count</c> names), keyed by the sample name and its labels sorted by name; a numeric label
    /// value (<c>le</c>) is written in one canonical form, so two writers' spellings of a bound compare equal.
    /// </summary>
    public IReadOnlyDictionary<string, double> Samples(Func<string, bool> family)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in Text.Split('\n'))
        {
            var match = Sample().Match(line);
            if (!match.Success || !family(match.Groups["name"].Value))
            {
                continue;
            }

            var labels = Label().Matches(match.Groups["labels"].Value)
                .Select(m => (Name: m.Groups["k"].Value, Value: m.Groups["v"].Value))
                .Select(l => l.Name == "le" && double.TryParse(l.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var bound)
                    ? (l.Name, Value: bound.ToString("R", CultureInfo.InvariantCulture))
                    : l)
                .OrderBy(l => l.Name, StringComparer.Ordinal)
                .Select(l => $"{l.Name}=\"{l.Value}\"");
            samples.Add($"{match.Groups["name"].Value}{{{string.Join(',', labels)}}}", double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture));
        }

        return samples;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)")]
    private static partial Regex Sample();

    [GeneratedRegex("(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=\"(?<v>(?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex Label();
}
