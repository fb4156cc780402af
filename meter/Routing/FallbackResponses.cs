using System.Buffers;
using System.Text.Json;
using Tollgate.Core.Usage;

namespace Tollgate.Meter.Routing;

/// <summary>
/// The fixed answer of <c>fallback.onBudgetExceeded.response</c>, in the wire format the client asked for (Anthropic
/// Messages, OpenAI Chat Completions or Responses; JSON or a server-sent event stream), so an SDK parses it like any
/// reply. It reports zero usage: nothing was billed.
/// </summary>
internal static class FallbackResponses
{
    public static bool Supports(ApiDialect dialect) =>
        dialect is ApiDialect.AnthropicMessages or ApiDialect.OpenAIChatCompletions or ApiDialect.OpenAIResponses;

    public static Task WriteAsync(HttpContext context, ApiDialect dialect, bool stream, string model, string text, string requestId, DateTimeOffset now)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        var id = requestId[..Math.Min(24, requestId.Length)];
        var created = now.ToUnixTimeSeconds();
        switch (dialect, stream)
        {
            case (ApiDialect.AnthropicMessages, false):
                Json(buffer, w => AnthropicMessage(w, id, model, text));
                break;
            case (ApiDialect.AnthropicMessages, true):
                Event(buffer, "message_start", w =>
                {
                    w.WriteString("type", "message_start");
                    w.WritePropertyName("message");
                    w.WriteStartObject();
                    AnthropicMessage(w, id, model, text: null);
                    w.WriteEndObject();
                });
                Event(buffer, "content_block_start", w =>
                {
                    w.WriteString("type", "content_block_start");
                    w.WriteNumber("index", 0);
                    w.WritePropertyName("content_block");
                    w.WriteStartObject();
                    w.WriteString("type", "text");
                    w.WriteString("text", string.Empty);
                    w.WriteEndObject();
                });
                Event(buffer, "content_block_delta", w =>
                {
                    w.WriteString("type", "content_block_delta");
                    w.WriteNumber("index", 0);
                    w.WritePropertyName("delta");
                    w.WriteStartObject();
                    w.WriteString("type", "text_delta");
                    w.WriteString("text", text);
                    w.WriteEndObject();
                });
                Event(buffer, "content_block_stop", w =>
                {
                    w.WriteString("type", "content_block_stop");
                    w.WriteNumber("index", 0);
                });
                Event(buffer, "message_delta", w =>
                {
                    w.WriteString("type", "message_delta");
                    w.WritePropertyName("delta");
                    w.WriteStartObject();
                    w.WriteString("stop_reason", "end_turn");
                    w.WriteNull("stop_sequence");
                    w.WriteEndObject();
                    w.WritePropertyName("usage");
                    w.WriteStartObject();
                    w.WriteNumber("output_tokens", 0);
                    w.WriteEndObject();
                });
                Event(buffer, "message_stop", w => w.WriteString("type", "message_stop"));
                break;
            case (ApiDialect.OpenAIChatCompletions, false):
                Json(buffer, w =>
                {
                    ChatCompletion(w, id, created, model, chunk: false, m =>
                    {
                        m.WriteString("role", "assistant");
                        m.WriteString("content", text);
                    }, "stop");
                    Usage(w, "prompt_tokens", "completion_tokens", "total_tokens");
                });
                break;
            case (ApiDialect.OpenAIChatCompletions, true):
                ChatChunk(buffer, id, created, model, w => w.WriteString("role", "assistant"), null);
                ChatChunk(buffer, id, created, model, w => w.WriteString("content", text), null);
                ChatChunk(buffer, id, created, model, null, "stop");
                buffer.Write("data: [DONE]\n\n"u8);
                break;
            case (ApiDialect.OpenAIResponses, false):
                Json(buffer, w => Response(w, id, created, model, text, "completed"));
                break;
            case (ApiDialect.OpenAIResponses, true):
                Data(buffer, w =>
                {
                    w.WriteString("type", "response.created");
                    w.WritePropertyName("response");
                    w.WriteStartObject();
                    Response(w, id, created, model, null, "in_progress");
                    w.WriteEndObject();
                });
                Data(buffer, w =>
                {
                    w.WriteString("type", "response.output_text.delta");
                    w.WriteString("item_id", "msg_tollgate_" + id);
                    w.WriteNumber("output_index", 0);
                    w.WriteNumber("content_index", 0);
                    w.WriteString("delta", text);
                });
                Data(buffer, w =>
                {
                    w.WriteString("type", "response.completed");
                    w.WritePropertyName("response");
                    w.WriteStartObject();
                    Response(w, id, created, model, text, "completed");
                    w.WriteEndObject();
                });
                break;
            default:
                throw new ArgumentException($"no fallback response format for {dialect}", nameof(dialect));
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = stream ? "text/event-stream" : "application/json";
        response.Headers["x-tollgate-fallback"] = "response";
        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).AsTask();
    }

    /// <summary>A whole message, or with <paramref name="text"/> null the empty one that opens a stream.</summary>
    private static void AnthropicMessage(Utf8JsonWriter w, string id, string model, string? text)
    {
        w.WriteString("id", "msg_tollgate_" + id);
        w.WriteString("type", "message");
        w.WriteString("role", "assistant");
        w.WriteString("model", model);
        w.WriteStartArray("content");
        if (text is not null)
        {
            w.WriteStartObject();
            w.WriteString("type", "text");
            w.WriteString("text", text);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (text is null)
        {
            w.WriteNull("stop_reason");
        }
        else
        {
            w.WriteString("stop_reason", "end_turn");
        }

        w.WriteNull("stop_sequence");
        Usage(w, "input_tokens", "output_tokens");
    }

    private static void Response(Utf8JsonWriter w, string id, long created, string model, string? text, string status)
    {
        w.WriteString("id", "resp_tollgate_" + id);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", created);
        w.WriteString("status", status);
        w.WriteString("model", model);
        w.WriteStartArray("output");
        if (text is not null)
        {
            w.WriteStartObject();
            w.WriteString("type", "message");
            w.WriteString("id", "msg_tollgate_" + id);
            w.WriteString("status", "completed");
            w.WriteString("role", "assistant");
            w.WriteStartArray("content");
            w.WriteStartObject();
            w.WriteString("type", "output_text");
            w.WriteString("text", text);
            w.WriteStartArray("annotations");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (text is not null)
        {
            Usage(w, "input_tokens", "output_tokens", "total_tokens");
        }
    }

    private static void ChatChunk(ArrayBufferWriter<byte> buffer, string id, long created, string model, Action<Utf8JsonWriter>? delta, string? finish) =>
        Data(buffer, w => ChatCompletion(w, id, created, model, chunk: true, d => delta?.Invoke(d), finish));

    /// <summary>A chat completion or one of its stream chunks: the same object with <c>message</c> or <c>delta</c>.</summary>
    private static void ChatCompletion(Utf8JsonWriter w, string id, long created, string model, bool chunk, Action<Utf8JsonWriter> choice, string? finish)
    {
        w.WriteString("id", "chatcmpl-tollgate-" + id);
        w.WriteString("object", chunk ? "chat.completion.chunk" : "chat.completion");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WritePropertyName(chunk ? "delta" : "message");
        w.WriteStartObject();
        choice(w);
        w.WriteEndObject();
        if (finish is null)
        {
            w.WriteNull("finish_reason");
        }
        else
        {
            w.WriteString("finish_reason", finish);
        }

        w.WriteEndObject();
        w.WriteEndArray();
    }

    private static void Usage(Utf8JsonWriter w, params string[] fields)
    {
        w.WritePropertyName("usage");
        w.WriteStartObject();
        foreach (var field in fields)
        {
            w.WriteNumber(field, 0);
        }

        w.WriteEndObject();
    }

    private static void Json(ArrayBufferWriter<byte> buffer, Action<Utf8JsonWriter> body)
    {
        using var writer = new Utf8JsonWriter(buffer);
        writer.WriteStartObject();
        body(writer);
        writer.WriteEndObject();
    }

    private static void Event(ArrayBufferWriter<byte> buffer, string name, Action<Utf8JsonWriter> body)
    {
        buffer.Write("event: "u8);
        buffer.Write(System.Text.Encoding.UTF8.GetBytes(name));
        buffer.Write("\n"u8);
        Data(buffer, body);
    }

    private static void Data(ArrayBufferWriter<byte> buffer, Action<Utf8JsonWriter> body)
    {
        buffer.Write("data: "u8);
        Json(buffer, body);
        buffer.Write("\n\n"u8);
    }
}
