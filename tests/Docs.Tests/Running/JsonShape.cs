using System.Text.Json.Nodes;

namespace Tollgate.Docs.Tests.Running;

/// <summary>The shape of a JSON document: every property path, so an example and a real response can be compared.</summary>
public static class JsonShape
{
    /// <summary>Paths such as <c>error.type</c> and <c>budgets[].decision</c>, sorted.</summary>
    public static IReadOnlyList<string> Of(JsonNode? node)
    {
        var paths = new SortedSet<string>(StringComparer.Ordinal);
        Walk(node, string.Empty, paths);
        return [.. paths];
    }

    private static void Walk(JsonNode? node, string prefix, SortedSet<string> paths)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj)
                {
                    var path = prefix.Length == 0 ? name : $"{prefix}.{name}";
                    paths.Add(path);
                    Walk(value, path, paths);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Walk(item, prefix + "[]", paths);
                }

                break;
        }
    }
}
