using System.Text.Json;

namespace Tollgate.TestSupport;

/// <summary>
/// OpenAI's legacy <c>/v1/completions</c>: <c>text_completion</c> objects whose choices carry <c>text</c> (no
/// <c>delta</c>), the chat API's usage fields, and with <c>stream_options.include_usage</c> a final chunk with empty
/// choices and <c>"usage":null</c> on every other chunk.
/// </summary>
internal sealed class OpenAiCompletionsDialect(ResponseSink sink, FakeExchange exchange) : Dialect(sink, exchange)
{
    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;

    private readonly string _id = Ids.Base62Id("cmpl-", 29);

    public override int PreambleEvents => 0;

    // finish chunk, the usage chunk when asked for, [DONE].
    public override int EndEvents => Exchange.Body.IncludeUsage ? 3 : 2;

    private string FinishReason => Exchange.HitMaxTokens ? "length" : "stop";

    public override void WriteBody()
    {
        var w = Sink.BeginJson(default);
        WriteEnvelope(w);
        w.WriteStartObject();
        w.WriteString("text"u8, Exchange.Text);
        w.WriteNumber("index"u8, 0);
        w.WriteNull("logprobs"u8);
        w.WriteString("finish_reason"u8, FinishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        if (!Exchange.Knobs.OmitUsage)
        {
            WriteUsage(w);
        }

        w.WriteEndObject();
        Sink.EndJson(default);
    }

    public override void WritePreambleEvent(int index)
    {
    }

    public override void WriteDeltaEvent(int index)
    {
        var w = BeginChunk();
        w.WriteStartObject();
        w.WriteString("text"u8, Words.Get(index));
        w.WriteNumber("index"u8, 0);
        w.WriteNull("logprobs"u8);
        w.WriteNull("finish_reason"u8);
        w.WriteEndObject();
        EndChunk(w, usage: false);
    }

    public override void WriteEndEvent(int index)
    {
        if (index == EndEvents - 1)
        {
            Sink.Write("data: [DONE]\n\n"u8);
            return;
        }

        var w = BeginChunk();
        if (index == 0)
        {
            w.WriteStartObject();
            w.WriteString("text"u8, ""u8);
            w.WriteNumber("index"u8, 0);
            w.WriteNull("logprobs"u8);
            w.WriteString("finish_reason"u8, FinishReason);
            w.WriteEndObject();
        }

        EndChunk(w, usage: index == 1);
    }

    private void WriteEnvelope(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, _id);
        w.WriteString("object"u8, "text_completion"u8);
        w.WriteNumber("created"u8, Exchange.Created);
        w.WriteString("model"u8, Exchange.Model);
        w.WriteStartArray("choices"u8);
    }

    private Utf8JsonWriter BeginChunk()
    {
        var w = Sink.BeginJson(DataPrefix);
        WriteEnvelope(w);
        return w;
    }

    private void EndChunk(Utf8JsonWriter w, bool usage)
    {
        w.WriteEndArray();
        if (usage)
        {
            WriteUsage(w);
        }
        else if (Exchange.Body.IncludeUsage)
        {
            w.WriteNull("usage"u8);
        }

        w.WriteEndObject();
        Sink.EndJson(EventEnd);
    }

    private void WriteUsage(Utf8JsonWriter w)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, Usage.OpenAiPromptTokens);
        w.WriteNumber("completion_tokens"u8, Usage.OpenAiCompletionTokens);
        w.WriteNumber("total_tokens"u8, Usage.OpenAiPromptTokens + Usage.OpenAiCompletionTokens);
        w.WriteEndObject();
    }
}
