using System.Text.Json.Nodes;

namespace Tollgate.Core.Serialization;

/// <summary>One YAML document as a JSON tree, with the line each path started on.</summary>
public sealed record YamlJsonDocument(JsonNode? Root, int StartLine, IReadOnlyDictionary<string, int> Lines)
{
    /// <summary>The YAML line of a path such as <c>spec.limit.amount</c>, or of its nearest known ancestor.</summary>
    public int LineOf(string path)
    {
        var current = path;
        while (true)
        {
            if (Lines.TryGetValue(current, out var line))
            {
                return line;
            }

            var cut = Math.Max(current.LastIndexOf('.'), current.LastIndexOf('['));
            if (cut <= 0)
            {
                return Lines.TryGetValue(string.Empty, out var rootLine) ? rootLine : StartLine;
            }

            current = current[..cut];
        }
    }
}
