using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tollgate.Core.Serialization;

/// <summary>A JSON tree written back as UTF-8, without the reflection-based serializer a native build lacks.</summary>
public static class JsonNodeBytes
{
    /// <summary>The same bytes <c>JsonSerializer.SerializeToUtf8Bytes(node)</c> gives: compact, default escaping.</summary>
    public static byte[] Of(JsonNode node)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            node.WriteTo(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
