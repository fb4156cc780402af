using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tollgate.Operator.Webhooks;

/// <summary>One RFC 6902 operation. <paramref name="Value"/> is unused by <c>remove</c>.</summary>
public sealed record JsonPatchOperation(string Op, string Path, JsonNode? Value = null)
{
    public static JsonPatchOperation Add(string path, JsonNode? value) => new("add", path, value);

    public static JsonPatchOperation Replace(string path, JsonNode? value) => new("replace", path, value);

    public static JsonPatchOperation Test(string path, JsonNode? value) => new("test", path, value);
}

/// <summary>An RFC 6902 JSON patch: operations applied in order, each to the result of the one before.</summary>
public sealed class JsonPatch(IReadOnlyList<JsonPatchOperation> operations)
{
    public IReadOnlyList<JsonPatchOperation> Operations { get; } = operations;

    public byte[] ToUtf8Bytes()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var operation in Operations)
            {
                writer.WriteStartObject();
                writer.WriteString("op", operation.Op);
                writer.WriteString("path", operation.Path);
                if (operation.Op != "remove")
                {
                    writer.WritePropertyName("value");
                    if (operation.Value is null)
                    {
                        writer.WriteNullValue();
                    }
                    else
                    {
                        operation.Value.WriteTo(writer);
                    }
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return buffer.ToArray();
    }

    public override string ToString() => System.Text.Encoding.UTF8.GetString(ToUtf8Bytes());
}

/// <summary>RFC 6901 JSON pointers.</summary>
public static class JsonPointer
{
    /// <summary>Escapes one reference token: <c>~</c> first, so that the <c>~1</c> written for <c>/</c> is not escaped again.</summary>
    public static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    /// <summary>Joins tokens (strings are escaped, integers are array indexes) into a pointer.</summary>
    public static string Of(params object[] tokens) =>
        string.Concat(tokens.Select(t => "/" + (t is int index ? index.ToString(CultureInfo.InvariantCulture) : Escape((string)t))));
}
