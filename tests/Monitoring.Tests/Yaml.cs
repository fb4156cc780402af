using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Tollgate.Monitoring.Tests;

/// <summary>Small navigation and comparison helpers over YamlDotNet's representation model.</summary>
internal static partial class Yaml
{
    public static YamlNode LoadFile(string path) => Load(File.ReadAllText(path));

    public static YamlNode Load(string text)
    {
        var documents = LoadAll(text);
        return documents.Count > 0 ? documents[0] : throw new InvalidOperationException("no YAML document");
    }

    /// <summary>The root of every document of a multi-document stream (what kustomize prints).</summary>
    public static IReadOnlyList<YamlNode> LoadAll(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return [.. stream.Documents.Select(d => d.RootNode)];
    }

    public static YamlNode? Get(this YamlNode? node, string key) =>
        node is YamlMappingNode mapping
            ? mapping.Children.FirstOrDefault(pair => pair.Key is YamlScalarNode scalar && scalar.Value == key).Value
            : null;

    public static YamlNode Required(this YamlNode? node, string key) =>
        node.Get(key) ?? throw new InvalidOperationException($"missing key '{key}' at {node?.Start}");

    public static string? Text(this YamlNode? node) => (node as YamlScalarNode)?.Value;

    public static IReadOnlyList<YamlNode> Items(this YamlNode? node) => node is YamlSequenceNode sequence ? [.. sequence.Children] : [];

    public static IReadOnlyList<string> Keys(this YamlNode? node) =>
        node is YamlMappingNode mapping ? [.. mapping.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? string.Empty)] : [];

    /// <summary>
    /// The first place where two trees differ, or null when they are equal. Mapping keys may come in any order, and
    /// scalars compare by value and resolved type, so <c>"75"</c> (a string) differs from <c>75</c> (an integer) as it
    /// would for the Kubernetes API, while a block scalar equals a quoted one with the same text.
    /// </summary>
    public static string? FirstDifference(YamlNode left, YamlNode right, string path = "$")
    {
        switch (left, right)
        {
            case (YamlScalarNode a, YamlScalarNode b):
                var (typeA, typeB) = (ScalarType(a), ScalarType(b));
                return a.Value == b.Value && typeA == typeB ? null : $"{path}: {typeA} '{a.Value}' vs {typeB} '{b.Value}'";
            case (YamlSequenceNode a, YamlSequenceNode b):
                if (a.Children.Count != b.Children.Count)
                {
                    return $"{path}: {a.Children.Count} items vs {b.Children.Count}";
                }

                for (var i = 0; i < a.Children.Count; i++)
                {
                    if (FirstDifference(a.Children[i], b.Children[i], $"{path}[{i}]") is { } difference)
                    {
                        return difference;
                    }
                }

                return null;
            case (YamlMappingNode a, YamlMappingNode b):
                var keysA = a.Keys().Order(StringComparer.Ordinal).ToList();
                var keysB = b.Keys().Order(StringComparer.Ordinal).ToList();
                if (!keysA.SequenceEqual(keysB, StringComparer.Ordinal))
                {
                    return $"{path}: keys [{string.Join(", ", keysA)}] vs [{string.Join(", ", keysB)}]";
                }

                foreach (var key in keysA)
                {
                    if (FirstDifference(a.Required(key), b.Required(key), $"{path}.{key}") is { } difference)
                    {
                        return difference;
                    }
                }

                return null;
            default:
                return $"{path}: {left.NodeType} vs {right.NodeType}";
        }
    }

    /// <summary>Prometheus-style durations (<c>744h</c>, <c>1h30m</c>, <c>31d</c>).</summary>
    public static TimeSpan Duration(string text)
    {
        var matches = DurationPart().Matches(text);
        if (matches.Count == 0 || string.Concat(matches.Select(m => m.Value)) != text)
        {
            throw new FormatException($"not a duration: '{text}'");
        }

        var total = TimeSpan.Zero;
        foreach (Match match in matches)
        {
            var amount = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            total += match.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(amount),
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                "d" => TimeSpan.FromDays(amount),
                "w" => TimeSpan.FromDays(7 * amount),
                _ => TimeSpan.FromDays(365 * amount),
            };
        }

        return total;
    }

    // YAML 1.2 core schema resolution of plain scalars; anything quoted or in a block is a string.
    private static string ScalarType(YamlScalarNode node)
    {
        if (node.Style is not (YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any))
        {
            return "string";
        }

        var value = node.Value ?? string.Empty;
        return value switch
        {
            "" or "~" or "null" or "Null" or "NULL" => "null",
            "true" or "True" or "TRUE" or "false" or "False" or "FALSE" => "bool",
            _ when IntegerPlain().IsMatch(value) => "int",
            _ when FloatPlain().IsMatch(value) => "float",
            _ => "string",
        };
    }

    [GeneratedRegex(@"(\d+)(ms|s|m|h|d|w|y)")]
    private static partial Regex DurationPart();

    [GeneratedRegex(@"^[-+]?(0|[1-9][0-9]*|0o[0-7]+|0x[0-9a-fA-F]+)$")]
    private static partial Regex IntegerPlain();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")]
    private static partial Regex FloatPlain();
}
