using System.Globalization;
using System.Text.Json.Nodes;

namespace Tollgate.Operator.Tests.Webhooks;

/// <summary>
/// An RFC 6902 JSON patch applier, as strict as the API server's: a path whose parent is missing, an array index
/// past the end or a <c>replace</c>/<c>remove</c> of nothing fails instead of being forgiven.
/// </summary>
internal static class Rfc6902
{
    public static JsonNode Apply(JsonNode document, JsonArray patch)
    {
        var root = document.DeepClone();
        foreach (var operation in patch)
        {
            var op = (string)operation!["op"]!;
            var path = (string)operation["path"]!;
            var hasValue = operation.AsObject().TryGetPropertyValue("value", out var value);
            switch (op)
            {
                case "add":
                    Require(hasValue, op, path);
                    root = Add(root, path, value?.DeepClone());
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Require(hasValue, op, path);
                    Get(root, path);
                    Remove(root, path);
                    root = Add(root, path, value?.DeepClone());
                    break;
                case "move":
                    var from = (string)operation["from"]!;
                    var moved = Get(root, from)?.DeepClone();
                    Remove(root, from);
                    root = Add(root, path, moved);
                    break;
                case "copy":
                    root = Add(root, path, Get(root, (string)operation["from"]!)?.DeepClone());
                    break;
                case "test":
                    Require(hasValue, op, path);
                    if (!JsonNode.DeepEquals(Get(root, path), value))
                    {
                        throw new JsonPatchFailedException($"test failed at {path}: expected {value?.ToJsonString()}, found {Get(root, path)?.ToJsonString()}");
                    }

                    break;
                default:
                    throw new JsonPatchFailedException($"unknown op \"{op}\"");
            }
        }

        return root;
    }

    public static JsonNode Apply(JsonNode document, string patch) => Apply(document, JsonNode.Parse(patch)!.AsArray());

    private static void Require(bool condition, string op, string path)
    {
        if (!condition)
        {
            throw new JsonPatchFailedException($"{op} at {path} has no value");
        }
    }

    private static List<string> Tokens(string path)
    {
        if (path.Length == 0)
        {
            return [];
        }

        if (path[0] != '/')
        {
            throw new JsonPatchFailedException($"\"{path}\" is not a JSON pointer");
        }

        return [.. path[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];
    }

    private static JsonNode? Get(JsonNode root, string path)
    {
        JsonNode? node = root;
        foreach (var token in Tokens(path))
        {
            node = Child(node, token, path);
        }

        return node;
    }

    private static JsonNode? Child(JsonNode? node, string token, string path) => node switch
    {
        JsonObject o when o.TryGetPropertyValue(token, out var child) => child,
        JsonArray a when Index(token, a.Count - 1) is int i => a[i],
        _ => throw new JsonPatchFailedException($"{path}: \"{token}\" does not exist"),
    };

    private static (JsonNode Parent, string Last) Parent(JsonNode root, string path)
    {
        var tokens = Tokens(path);
        JsonNode? node = root;
        foreach (var token in tokens[..^1])
        {
            node = Child(node, token, path);
        }

        return node is JsonObject or JsonArray ? (node, tokens[^1]) : throw new JsonPatchFailedException($"{path}: the parent is not a container");
    }

    private static JsonNode Add(JsonNode root, string path, JsonNode? value)
    {
        if (path.Length == 0)
        {
            return value ?? throw new JsonPatchFailedException("cannot replace the document with null");
        }

        var (parent, last) = Parent(root, path);
        if (parent is JsonObject o)
        {
            o[last] = value;
        }
        else
        {
            var array = parent.AsArray();
            if (last == "-")
            {
                array.Add(value);
            }
            else
            {
                array.Insert(Index(last, array.Count) ?? throw new JsonPatchFailedException($"{path}: index out of range"), value);
            }
        }

        return root;
    }

    private static void Remove(JsonNode root, string path)
    {
        var (parent, last) = Parent(root, path);
        if (parent is JsonObject o)
        {
            if (!o.Remove(last))
            {
                throw new JsonPatchFailedException($"{path}: nothing to remove");
            }
        }
        else
        {
            var array = parent.AsArray();
            array.RemoveAt(Index(last, array.Count - 1) ?? throw new JsonPatchFailedException($"{path}: index out of range"));
        }
    }

    // RFC 6901: decimal without leading zeros.
    private static int? Index(string token, int max) =>
        token.Length > 0 && token.All(char.IsAsciiDigit) && (token == "0" || token[0] != '0')
        && int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= max
            ? i
            : null;
}

internal sealed class JsonPatchFailedException(string message) : Exception(message);
