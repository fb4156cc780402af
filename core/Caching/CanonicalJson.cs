using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tollgate.Core.Caching;

/// <summary>
/// Rewrites a JSON document in one canonical form, so documents that differ only in layout hash alike: object
/// properties sorted by name (ordinal, recursively), no whitespace, numbers as their raw text, strings unescaped and
/// escaped again one way. Arrays keep their order; nothing but the omitted top-level property is dropped.
/// </summary>
internal static class CanonicalJson
{
    // Deeper than the 64 System.Text.Json allows by default: tool definitions carry JSON schemas, which nest.
    private const int MaxDepth = 256;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = MaxDepth };

    // The output is only ever hashed, never served, so the relaxed encoder is safe; it keeps non-ASCII text as UTF-8
    // instead of tripling it into \uXXXX escapes. Any fixed encoder would do: what matters is that it never changes.
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        MaxDepth = MaxDepth,
    };

    /// <summary>Writes the canonical form of <paramref name="json"/> to <paramref name="output"/>.</summary>
    /// <param name="omitTopLevelProperty">A property of the root object left out, or null to keep everything.</param>
    /// <exception cref="JsonException">The input is not one well-formed JSON value, or holds a lone UTF-16 surrogate.</exception>
    public static void Write(ReadOnlySpan<byte> json, IBufferWriter<byte> output, string? omitTopLevelProperty)
    {
        var reader = new Utf8JsonReader(json, ReaderOptions);
        using var document = JsonDocument.ParseValue(ref reader);

        // ParseValue stops after the first value; reading on throws on anything but trailing whitespace.
        if (reader.Read())
        {
            throw new JsonException("Unexpected content after the JSON value.");
        }

        using var writer = new Utf8JsonWriter(output, WriterOptions);
        try
        {
            WriteValue(writer, document.RootElement, omitTopLevelProperty);
        }
        catch (InvalidOperationException ex)
        {
            // An escaped lone surrogate ("\ud800") parses, but has no UTF-8 form to compare or re-escape.
            throw new JsonException("The JSON holds a string that is not valid UTF-16.", ex);
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, JsonElement element, string? omitProperty)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = new List<JsonProperty>();
                foreach (var property in element.EnumerateObject())
                {
                    if (omitProperty is null || !property.NameEquals(omitProperty))
                    {
                        properties.Add(property);
                    }
                }

                writer.WriteStartObject();

                // A stable sort: duplicate names (legal JSON) keep their relative order, which decides their meaning.
                foreach (var property in properties.OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(property.Name);
                    WriteValue(writer, property.Value, omitProperty: null);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteValue(writer, item, omitProperty: null);
                }

                writer.WriteEndArray();
                break;
            default:
                // Scalars: a string is unescaped and escaped again by the writer's encoder; a number keeps its raw text.
                element.WriteTo(writer);
                break;
        }
    }
}
