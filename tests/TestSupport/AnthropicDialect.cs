using System.Text.Json;

namespace Tollgate.TestSupport;

/// <summary>Anthropic Messages API (<c>/v1/messages</c>), non-streaming body and the SSE event sequence.</summary>
internal sealed class AnthropicDialect(ResponseSink sink, FakeExchange exchange) : Dialect(sink, exchange)
{
    private readonly string _id = Ids.Base62Id("msg_01", 22);

    public override int PreambleEvents => 3;

    // content_block_stop, one or two message_delta, message_stop.
    public override int EndEvents => Exchange.Knobs.RepeatDelta ? 4 : 3;

    private string StopReason => Exchange.HitMaxTokens ? "max_tokens" : "end_turn";

    public override void WriteBody()
    {
        var w = Sink.BeginJson(default);
        w.WriteStartObject();
        WriteMessageHead(w);
        w.WriteStartArray("content"u8);
        w.WriteStartObject();
        w.WriteString("type"u8, "text"u8);
        w.WriteString("text"u8, Exchange.Text);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteString("stop_reason"u8, StopReason);
        w.WriteNull("stop_sequence"u8);
        WriteUsage(w, Usage.AnthropicOutputTokens);
        w.WriteEndObject();
        Sink.EndJson(default);
    }

    public override void WritePreambleEvent(int index)
    {
        switch (index)
        {
            case 0:
                var w = Sink.BeginJson("event: message_start\ndata: "u8);
                w.WriteStartObject();
                w.WriteString("type"u8, "message_start"u8);
                w.WriteStartObject("message"u8);
                WriteMessageHead(w);
                w.WriteStartArray("content"u8);
                w.WriteEndArray();
                w.WriteNull("stop_reason"u8);
                w.WriteNull("stop_sequence"u8);
                // The real API reports a placeholder output count of 1 here and the real count in message_delta.
                WriteUsage(w, 1);
                w.WriteEndObject();
                w.WriteEndObject();
                Sink.EndJson(EventEnd);
                break;
            case 1:
                Sink.Write("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"u8);
                break;
            default:
                // Byte-exact: the real ping payload has a space after the colon, unlike every other event.
                Sink.Write("event: ping\ndata: {\"type\": \"ping\"}\n\n"u8);
                break;
        }
    }

    public override void WriteDeltaEvent(int index)
    {
        var w = Sink.BeginJson("event: content_block_delta\ndata: "u8);
        w.WriteStartObject();
        w.WriteString("type"u8, "content_block_delta"u8);
        w.WriteNumber("index"u8, 0);
        w.WriteStartObject("delta"u8);
        w.WriteString("type"u8, "text_delta"u8);
        w.WriteString("text"u8, Words.Get(index));
        w.WriteEndObject();
        w.WriteEndObject();
        Sink.EndJson(EventEnd);
    }

    public override void WriteEndEvent(int index)
    {
        if (index == 0)
        {
            Sink.Write("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"u8);
            return;
        }

        if (index == EndEvents - 1)
        {
            Sink.Write("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"u8);
            return;
        }

        // message_delta usage is cumulative: with x-fake-repeat-delta the first carries half, the second the total.
        var total = Usage.AnthropicOutputTokens;
        var outputTokens = Exchange.Knobs.RepeatDelta && index == 1 ? total / 2 : total;
        var w = Sink.BeginJson("event: message_delta\ndata: "u8);
        w.WriteStartObject();
        w.WriteString("type"u8, "message_delta"u8);
        w.WriteStartObject("delta"u8);
        w.WriteString("stop_reason"u8, StopReason);
        w.WriteNull("stop_sequence"u8);
        w.WriteEndObject();
        w.WriteStartObject("usage"u8);
        w.WriteNumber("output_tokens"u8, outputTokens);
        w.WriteEndObject();
        w.WriteEndObject();
        Sink.EndJson(EventEnd);
    }

    private void WriteMessageHead(Utf8JsonWriter w)
    {
        w.WriteString("id"u8, _id);
        w.WriteString("type"u8, "message"u8);
        w.WriteString("role"u8, "assistant"u8);
        w.WriteString("model"u8, Exchange.Model);
    }

    private void WriteUsage(Utf8JsonWriter w, int outputTokens)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("input_tokens"u8, Usage.Input);
        w.WriteNumber("cache_creation_input_tokens"u8, Usage.CacheWrite);
        w.WriteNumber("cache_read_input_tokens"u8, Usage.CacheRead);
        w.WriteNumber("output_tokens"u8, outputTokens);
        w.WriteEndObject();
    }
}
