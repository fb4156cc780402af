using System.Text.Json;

namespace Tollgate.TestSupport;

/// <summary>OpenAI Chat Completions (<c>/v1/chat/completions</c>), non-streaming body and <c>chat.completion.chunk</c> stream.</summary>
internal sealed class OpenAiChatDialect(ResponseSink sink, FakeExchange exchange) : Dialect(sink, exchange)
{
    public const string SystemFingerprint = "fp_7f2c1d0b9a";

    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;

    private readonly string _id = Ids.Base62Id("chatcmpl-", 29);

    public override int PreambleEvents => 1;

    // finish chunk, the usage chunk when asked for, [DONE].
    public override int EndEvents => Exchange.Body.IncludeUsage ? 3 : 2;

    private string FinishReason => Exchange.HitMaxTokens ? "length" : "stop";

    public override void WriteBody()
    {
        var w = Sink.BeginJson(default);
        w.WriteStartObject();
        w.WriteString("id"u8, _id);
        w.WriteString("object"u8, "chat.completion"u8);
        w.WriteNumber("created"u8, Exchange.Created);
        w.WriteString("model"u8, Exchange.Model);
        w.WriteStartArray("choices"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
        w.WriteStartObject("message"u8);
        w.WriteString("role"u8, "assistant"u8);
        w.WriteString("content"u8, Exchange.Text);
        w.WriteNull("refusal"u8);
        w.WriteStartArray("annotations"u8);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteNull("logprobs"u8);
        w.WriteString("finish_reason"u8, FinishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        if (!Exchange.Knobs.OmitUsage)
        {
            WriteUsage(w, Usage);
        }

        w.WriteString("service_tier"u8, "default"u8);
        w.WriteString("system_fingerprint"u8, SystemFingerprint);
        w.WriteEndObject();
        Sink.EndJson(default);
    }

    public override void WritePreambleEvent(int index)
    {
        var w = BeginChunk();
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
        w.WriteStartObject("delta"u8);
        w.WriteString("role"u8, "assistant"u8);
        w.WriteString("content"u8, ""u8);
        w.WriteNull("refusal"u8);
        w.WriteEndObject();
        w.WriteNull("logprobs"u8);
        w.WriteNull("finish_reason"u8);
        w.WriteEndObject();
        EndChunk(w, includeUsage: false);
    }

    public override void WriteDeltaEvent(int index)
    {
        var w = BeginChunk();
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
        w.WriteStartObject("delta"u8);
        w.WriteString("content"u8, Words.Get(index));
        w.WriteEndObject();
        w.WriteNull("logprobs"u8);
        w.WriteNull("finish_reason"u8);
        w.WriteEndObject();
        EndChunk(w, includeUsage: false);
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
            WriteFinishChoice(w);
            EndChunk(w, includeUsage: false);
            return;
        }

        // The usage chunk: the real API sends an empty choices array; some compatible providers repeat a choice.
        if (Exchange.Knobs.UsageChunkChoices)
        {
            WriteFinishChoice(w);
        }

        EndChunk(w, includeUsage: true);
    }

    /// <summary>Prompt counts include cached tokens and completion counts include reasoning, as OpenAI bills them.</summary>
    private static void WriteUsage(Utf8JsonWriter w, FakeUsage usage)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, usage.OpenAiPromptTokens);
        w.WriteNumber("completion_tokens"u8, usage.OpenAiCompletionTokens);
        w.WriteNumber("total_tokens"u8, usage.OpenAiPromptTokens + usage.OpenAiCompletionTokens);
        w.WriteStartObject("prompt_tokens_details"u8);
        w.WriteNumber("cached_tokens"u8, usage.CacheRead);
        w.WriteNumber("audio_tokens"u8, 0);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details"u8);
        w.WriteNumber("reasoning_tokens"u8, usage.Reasoning);
        w.WriteNumber("audio_tokens"u8, 0);
        w.WriteNumber("accepted_prediction_tokens"u8, 0);
        w.WriteNumber("rejected_prediction_tokens"u8, 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private void WriteFinishChoice(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
        w.WriteStartObject("delta"u8);
        w.WriteEndObject();
        w.WriteNull("logprobs"u8);
        w.WriteString("finish_reason"u8, FinishReason);
        w.WriteEndObject();
    }

    /// <summary>Writes the chunk envelope up to the open choices array.</summary>
    private Utf8JsonWriter BeginChunk()
    {
        var w = Sink.BeginJson(DataPrefix);
        w.WriteStartObject();
        w.WriteString("id"u8, _id);
        w.WriteString("object"u8, "chat.completion.chunk"u8);
        w.WriteNumber("created"u8, Exchange.Created);
        w.WriteString("model"u8, Exchange.Model);
        w.WriteString("service_tier"u8, "default"u8);
        w.WriteString("system_fingerprint"u8, SystemFingerprint);
        w.WriteStartArray("choices"u8);
        return w;
    }

    private void EndChunk(Utf8JsonWriter w, bool includeUsage)
    {
        w.WriteEndArray();
        if (includeUsage)
        {
            WriteUsage(w, Usage);
        }
        else if (Exchange.Body.IncludeUsage)
        {
            // With include_usage every chunk carries "usage":null; without it the field is absent.
            w.WriteNull("usage"u8);
        }

        w.WriteEndObject();
        Sink.EndJson(EventEnd);
    }
}
