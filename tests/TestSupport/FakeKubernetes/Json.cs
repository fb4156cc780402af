using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>Tolerant readers for client-supplied JSON: a wrong type reads as absent instead of throwing a 500.</summary>
internal static class Json
{
    public static string? Str(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public static long? Long(JsonNode? node)
    {
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
        {
            return null;
        }

        return v.TryGetValue<long>(out var l) ? l
            : v.TryGetValue<int>(out var i) ? i
            : long.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l) ? l
            : null;
    }

    /// <summary>The object's metadata, created empty (or replacing a non-object) so callers can write to it.</summary>
    public static JsonObject Meta(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject metadata)
        {
            return metadata;
        }

        metadata = [];
        obj["metadata"] = metadata;
        return metadata;
    }

    public static string Name(JsonObject obj) => Str(obj["metadata"]?["name"]) ?? "";

    public static string ResourceVersion(JsonObject obj) => Str(obj["metadata"]?["resourceVersion"]) ?? "";

    public static bool IsDeleting(JsonObject obj) => obj["metadata"]?["deletionTimestamp"] is not null;

    public static IReadOnlyList<string> Finalizers(JsonObject obj) =>
        obj["metadata"]?["finalizers"] is JsonArray array ? array.Select(Str).OfType<string>().ToArray() : [];

    public static JsonObject Parse(string text, string what)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject
                ?? throw ApiError.BadRequest($"the body of the request is not a JSON object ({what})");
        }
        catch (JsonException e)
        {
            throw ApiError.BadRequest($"json parse error: {e.Message}");
        }
    }

    public static string Timestamp(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
