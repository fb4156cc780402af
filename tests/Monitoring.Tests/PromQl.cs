using System.Text.RegularExpressions;

namespace Tollgate.Monitoring.Tests;

/// <summary>A metric selector with braces in a PromQL expression: the metric name and the text of its matchers.</summary>
internal sealed record Selector(string Metric, string Matchers);

/// <summary>
/// Just enough PromQL lexing to find which metrics an expression reads and how it selects them. Whether the expression
/// is valid PromQL is left to the real parser (promtool); this only has to be right for valid expressions.
/// </summary>
internal static partial class PromQl
{
    private static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "atan2", "inf", "nan",
    };

    /// <summary>Selectors written with braces, such as <c>tollgate_cost_usd_total{job=~"$job"}</c>.</summary>
    public static IReadOnlyList<Selector> Selectors(string expr) =>
        [.. SelectorPattern().Matches(expr).Select(m => new Selector(m.Groups["name"].Value, m.Groups["matchers"].Value))];

    /// <summary>Metric names used without braces (<c>sum(up)</c>): nothing can be filtered on them.</summary>
    public static IReadOnlySet<string> BareMetrics(string expr)
    {
        var rest = SelectorPattern().Replace(expr, " ");
        rest = Braces().Replace(rest, " ");
        rest = StringLiteral().Replace(rest, " ");
        rest = Brackets().Replace(rest, " ");
        rest = LabelList().Replace(rest, " ");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match match in Identifier().Matches(rest))
        {
            if (!Keywords.Contains(match.Value))
            {
                names.Add(match.Value);
            }
        }

        return names;
    }

    /// <summary>Every metric name the expression reads, with or without braces.</summary>
    public static IReadOnlySet<string> Metrics(string expr)
    {
        var names = new HashSet<string>(BareMetrics(expr), StringComparer.Ordinal);
        names.UnionWith(Selectors(expr).Select(s => s.Metric));
        return names;
    }

    // Matched before strings are removed because matcher values are strings; label values here never hold braces.
    [GeneratedRegex(@"(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{(?<matchers>[^{}]*)\}")]
    private static partial Regex SelectorPattern();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"\{[^{}]*\}")]
    private static partial Regex Braces();

    // Range and subquery windows, [5m] or [$__rate_interval] or [1h:1m].
    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Brackets();

    // Label lists of aggregations and vector matching: by (job), on (), group_left (team).
    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex LabelList();

    // An identifier that is not part of a number or a $variable, and not a function call.
    [GeneratedRegex(@"(?<![\w:.$])[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\(|[\w:])")]
    private static partial Regex Identifier();
}
