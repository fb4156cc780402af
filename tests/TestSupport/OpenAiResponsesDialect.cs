using System.Text.Json;

namespace Tollgate.TestSupport;

/// <summary>OpenAI Responses API (<c>/v1/responses</c>), the Response object and its typed SSE events.</summary>
internal sealed class OpenAiResponsesDialect(ResponseSink sink, FakeExchange exchange) : Dialect(sink, exchange)
{
    private readonly string _id = Ids.HexId("resp_", 48);
    private readonly string _itemId = Ids.HexId("msg_", 48);
    private int _sequence;

    // response.created, response.in_progress, response.output_item.added, response.content_part.added.
    public override int PreambleEvents => 4;

    // response.output_text.done, response.content_part.done, response.output_item.done, response.completed.
    public override int EndEvents => 4;

    public override void WriteBody()
    {
        var w = Sink.BeginJson(default);
        WriteResponse(w, completed: true);
        Sink.EndJson(default);
    }

    public override void WritePreambleEvent(int index)
    {
        Utf8JsonWriter w;
        switch (index)
        {
            case 0:
                w = BeginEvent("response.created"u8);
                w.WritePropertyName("response"u8);
                WriteResponse(w, completed: false);
                break;
            case 1:
                w = BeginEvent("response.in_progress"u8);
                w.WritePropertyName("response"u8);
                WriteResponse(w, completed: false);
                break;
            case 2:
                w = BeginEvent("response.output_item.added"u8);
                w.WriteNumber("output_index"u8, 0);
                w.WritePropertyName("item"u8);
                WriteMessageItem(w, completed: false);
                break;
            default:
                w = BeginEvent("response.content_part.added"u8);
                WritePartPosition(w);
                w.WritePropertyName("part"u8);
                WriteOutputText(w, ""u8);
                break;
        }

        EndEvent(w);
    }

    public override void WriteDeltaEvent(int index)
    {
        var w = BeginEvent("response.output_text.delta"u8);
        WritePartPosition(w);
        w.WriteString("delta"u8, Words.Get(index));
        w.WriteStartArray("logprobs"u8);
        w.WriteEndArray();
        EndEvent(w);
    }

    public override void WriteEndEvent(int index)
    {
        Utf8JsonWriter w;
        switch (index)
        {
            case 0:
                w = BeginEvent("response.output_text.done"u8);
                WritePartPosition(w);
                w.WriteString("text"u8, Exchange.Text);
                w.WriteStartArray("logprobs"u8);
                w.WriteEndArray();
                break;
            case 1:
                w = BeginEvent("response.content_part.done"u8);
                WritePartPosition(w);
                w.WritePropertyName("part"u8);
                WriteOutputText(w, Exchange.Text);
                break;
            case 2:
                w = BeginEvent("response.output_item.done"u8);
                w.WriteNumber("output_index"u8, 0);
                w.WritePropertyName("item"u8);
                WriteMessageItem(w, completed: true);
                break;
            default:
                w = BeginEvent("response.completed"u8);
                w.WritePropertyName("response"u8);
                WriteResponse(w, completed: true);
                break;
        }

        EndEvent(w);
    }

    /// <summary>Writes <c>event: type\ndata: {"type":"type","sequence_number":n</c> and leaves the object open.</summary>
    private Utf8JsonWriter BeginEvent(ReadOnlySpan<byte> type)
    {
        Sink.Write("event: "u8);
        Sink.Write(type);
        var w = Sink.BeginJson("\ndata: "u8);
        w.WriteStartObject();
        w.WriteString("type"u8, type);
        w.WriteNumber("sequence_number"u8, _sequence++);
        return w;
    }

    private void EndEvent(Utf8JsonWriter w)
    {
        w.WriteEndObject();
        Sink.EndJson(EventEnd);
    }

    private void WritePartPosition(Utf8JsonWriter w)
    {
        w.WriteString("item_id"u8, _itemId);
        w.WriteNumber("output_index"u8, 0);
        w.WriteNumber("content_index"u8, 0);
    }

    private void WriteResponse(Utf8JsonWriter w, bool completed)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, _id);
        w.WriteString("object"u8, "response"u8);
        w.WriteNumber("created_at"u8, Exchange.Created);
        w.WriteString("status"u8, completed ? "completed"u8 : "in_progress"u8);
        w.WriteBoolean("background"u8, false);
        w.WriteNull("error"u8);
        w.WriteNull("incomplete_details"u8);
        w.WriteNull("instructions"u8);
        if (Exchange.Body.MaxTokens is { } max)
        {
            w.WriteNumber("max_output_tokens"u8, max);
        }
        else
        {
            w.WriteNull("max_output_tokens"u8);
        }

        w.WriteString("model"u8, Exchange.Model);
        w.WriteStartArray("output"u8);
        if (completed)
        {
            WriteMessageItem(w, completed: true);
        }

        w.WriteEndArray();
        w.WriteBoolean("parallel_tool_calls"u8, true);
        w.WriteNull("previous_response_id"u8);
        w.WriteString("service_tier"u8, "default"u8);
        w.WriteBoolean("store"u8, true);
        w.WriteStartArray("tools"u8);
        w.WriteEndArray();
        if (completed)
        {
            WriteUsage(w);
        }
        else
        {
            w.WriteNull("usage"u8);
        }

        w.WriteStartObject("metadata"u8);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private void WriteMessageItem(Utf8JsonWriter w, bool completed)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, _itemId);
        w.WriteString("type"u8, "message"u8);
        w.WriteString("status"u8, completed ? "completed"u8 : "in_progress"u8);
        w.WriteStartArray("content"u8);
        if (completed)
        {
            WriteOutputText(w, Exchange.Text);
        }

        w.WriteEndArray();
        w.WriteString("role"u8, "assistant"u8);
        w.WriteEndObject();
    }

    private static void WriteOutputText(Utf8JsonWriter w, ReadOnlySpan<byte> text)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "output_text"u8);
        w.WriteStartArray("annotations"u8);
        w.WriteEndArray();
        w.WriteStartArray("logprobs"u8);
        w.WriteEndArray();
        w.WriteString("text"u8, text);
        w.WriteEndObject();
    }

    private void WriteUsage(Utf8JsonWriter w)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("input_tokens"u8, Usage.OpenAiPromptTokens);
        w.WriteStartObject("input_tokens_details"u8);
        w.WriteNumber("cached_tokens"u8, Usage.CacheRead);
        w.WriteEndObject();
        w.WriteNumber("output_tokens"u8, Usage.OpenAiCompletionTokens);
        w.WriteStartObject("output_tokens_details"u8);
        w.WriteNumber("reasoning_tokens"u8, Usage.Reasoning);
        w.WriteEndObject();
        w.WriteNumber("total_tokens"u8, Usage.OpenAiPromptTokens + Usage.OpenAiCompletionTokens);
        w.WriteEndObject();
    }
}
