using System.Globalization;
using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>JSON merge patch (RFC 7386) and JSON patch (RFC 6902) over <see cref="JsonNode"/> trees.</summary>
internal static class Patches
{
    /// <summary>Returns the patched document; <paramref name="target"/> is not changed.</summary>
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? targetObject.DeepClone().AsObject() : [];
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                var merged = Merge(result[key], value);
                result[key] = merged;
            }
        }

        return result;
    }

    /// <summary>Applies every operation in order to a copy of <paramref name="target"/>; any failure leaves nothing applied.</summary>
    public static JsonNode? JsonPatch(JsonNode target, JsonArray operations, string patchText)
    {
        JsonNode? document = target.DeepClone();
        foreach (var operation in operations)
        {
            if (operation is not JsonObject op || Json.Str(op["op"]) is not { } kind)
            {
                throw ApiError.BadRequest("the server rejected our request due to an error in our request: missing 'op' in a JSON patch operation");
            }

            var path = Json.Str(op["path"]) ?? throw ApiError.InvalidPatch(patchText, $"missing 'path' in {kind} operation");
            switch (kind)
            {
                case "add":
                    document = Add(document, path, RequireValue(op, patchText), patchText);
                    break;
                case "remove":
                    document = Remove(document, path, patchText, out _);
                    break;
                case "replace":
                    _ = Get(document, path) ?? throw ApiError.InvalidPatch(patchText, $"replace operation does not apply: doc is missing key: {path}");
                    document = Remove(document, path, patchText, out _);
                    document = Add(document, path, RequireValue(op, patchText), patchText);
                    break;
                case "move":
                    {
                        var from = Json.Str(op["from"]) ?? throw ApiError.InvalidPatch(patchText, "missing 'from' in move operation");
                        document = Remove(document, from, patchText, out var moved);
                        document = Add(document, path, moved, patchText);
                        break;
                    }

                case "copy":
                    {
                        var from = Json.Str(op["from"]) ?? throw ApiError.InvalidPatch(patchText, "missing 'from' in copy operation");
                        var copied = Get(document, from) ?? throw ApiError.InvalidPatch(patchText, $"copy operation does not apply: doc is missing from path: {from}");
                        document = Add(document, path, copied.DeepClone(), patchText);
                        break;
                    }

                case "test":
                    {
                        var actual = Get(document, path);
                        if (!JsonNode.DeepEquals(actual, op["value"]))
                        {
                            throw ApiError.InvalidPatch(patchText, $"testing value {path} failed: test failed");
                        }

                        break;
                    }

                default:
                    throw ApiError.InvalidPatch(patchText, $"Unexpected kind: {kind}");
            }
        }

        return document;
    }

    private static JsonNode? RequireValue(JsonObject op, string patchText) =>
        op.TryGetPropertyValue("value", out var value)
            ? value?.DeepClone()
            : throw ApiError.InvalidPatch(patchText, "missing 'value' parameter");

    private static string[] Pointer(string path, string patchText)
    {
        if (path.Length == 0)
        {
            return [];
        }

        if (path[0] != '/')
        {
            throw ApiError.InvalidPatch(patchText, $"JSON pointer must be empty or start with a \"/\": {path}");
        }

        return path[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
    }

    private static JsonNode? Get(JsonNode? document, string path)
    {
        var node = document;
        foreach (var token in Pointer(path, path))
        {
            node = node switch
            {
                JsonObject o => o[token],
                JsonArray a when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
                _ => null,
            };
            if (node is null)
            {
                return null;
            }
        }

        return node;
    }

    private static JsonNode? Add(JsonNode? document, string path, JsonNode? value, string patchText)
    {
        var tokens = Pointer(path, patchText);
        if (tokens.Length == 0)
        {
            return value;
        }

        var parent = Get(document, "/" + string.Join('/', tokens.Take(tokens.Length - 1).Select(Escape)));
        if (tokens.Length == 1)
        {
            parent = document;
        }

        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a when last == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= a.Count:
                a.Insert(i, value);
                break;
            case JsonArray:
                throw ApiError.InvalidPatch(patchText, $"add operation does not apply: index out of range: {path}");
            default:
                throw ApiError.InvalidPatch(patchText, $"add operation does not apply: doc is missing path: \"{path}\": missing value");
        }

        return document;
    }

    private static JsonNode? Remove(JsonNode? document, string path, string patchText, out JsonNode? removed)
    {
        var tokens = Pointer(path, patchText);
        if (tokens.Length == 0)
        {
            removed = document;
            return null;
        }

        var parent = tokens.Length == 1 ? document : Get(document, "/" + string.Join('/', tokens.Take(tokens.Length - 1).Select(Escape)));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(last):
                removed = o[last];
                o.Remove(last);
                return document;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count:
                removed = a[i];
                a.RemoveAt(i);
                return document;
            default:
                throw ApiError.InvalidPatch(patchText, $"remove operation does not apply: doc is missing path: \"{path}\": missing value");
        }
    }

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
