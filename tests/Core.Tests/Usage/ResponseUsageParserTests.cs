using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Usage;

/// <summary>
/// Recorded-style provider transcripts (tests/Core.Tests/Transcripts) fed to the parser in chunks of many sizes: the
/// usage must not depend on where the network happened to split the body.
/// </summary>
public sealed class ResponseUsageParserTests
{
    private const int Whole = int.MaxValue;

    /// <summary>Chunk sizes that split every token and line somewhere, plus the whole body at once.</summary>
    public static TheoryData<int> ChunkSizes => [1, 3, 17, 64, Whole];

    // ------------------------------------------------------------------ Anthropic

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void Anthropic_message_body_reports_disjoint_usage_and_model(int chunkSize)
    {
        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: false, Transcript("anthropic-messages.json"), chunkSize);

        Assert.Equal("claude-sonnet-4-5-20250929", observation.Model);
        Assert.Equal(new TokenUsage(Input: 2095, Output: 503, CacheRead: 4096, CacheWrite: 1024, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void Anthropic_stream_with_crlf_reports_message_start_input_and_message_delta_output(int chunkSize)
    {
        var body = Transcript("anthropic-messages-stream.sse");
        Assert.Contains("\r\n\r\n", Encoding.UTF8.GetString(body), StringComparison.Ordinal); // the CRLF transcript must stay CRLF

        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, body, chunkSize);

        Assert.Equal("claude-sonnet-4-5-20250929", observation.Model);
        Assert.Equal(new TokenUsage(Input: 472, Output: 87, CacheRead: 10240, CacheWrite: 1856, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void Anthropic_stream_keeps_latest_cumulative_output_tokens(int chunkSize)
    {
        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, Transcript("anthropic-messages-stream-repeated-delta.sse"), chunkSize);

        Assert.Equal("claude-haiku-4-5-20251001", observation.Model);
        Assert.Equal(new TokenUsage(Input: 25, Output: 25, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void Anthropic_stream_cut_after_content_deltas_is_not_reported_but_keeps_message_start_usage(int chunkSize)
    {
        // message_start, content_block_start, ping and the four content_block_delta events; nothing after.
        var cut = Encoding.UTF8.GetBytes(FirstEvents(Transcript("anthropic-messages-stream.sse"), 7));

        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, cut, chunkSize);

        Assert.Equal("claude-sonnet-4-5-20250929", observation.Model);
        Assert.Equal(new TokenUsage(Input: 472, Output: 1, CacheRead: 10240, CacheWrite: 1856, Reasoning: 0), observation.Usage);
        Assert.False(observation.ReportedByProvider);
        Assert.Equal(4, observation.DeltaEvents);
    }

    [Fact]
    public void Anthropic_stream_cut_right_after_message_start_has_no_delta_events()
    {
        var cut = Encoding.UTF8.GetBytes(FirstEvents(Transcript("anthropic-messages-stream.sse"), 1));

        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, cut, Whole);

        Assert.Equal("claude-sonnet-4-5-20250929", observation.Model);
        Assert.Equal(new TokenUsage(Input: 472, Output: 1, CacheRead: 10240, CacheWrite: 1856, Reasoning: 0), observation.Usage);
        Assert.False(observation.ReportedByProvider);
        Assert.Equal(0, observation.DeltaEvents);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void Anthropic_stream_cut_in_the_middle_of_a_line_does_not_throw(int chunkSize)
    {
        var text = Encoding.UTF8.GetString(Transcript("anthropic-messages-stream.sse"));
        var cutAt = text.IndexOf("\" usage is reported", StringComparison.Ordinal);
        var cut = Encoding.UTF8.GetBytes(text[..cutAt]);

        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, cut, chunkSize);

        Assert.Equal(new TokenUsage(Input: 472, Output: 1, CacheRead: 10240, CacheWrite: 1856, Reasoning: 0), observation.Usage);
        Assert.False(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void Anthropic_stream_survives_malformed_events(int chunkSize)
    {
        var text = Encoding.UTF8.GetString(Transcript("anthropic-messages-stream-repeated-delta.sse"));
        var broken = text.Replace(
            "event: ping\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"unterminated}\n\n"
            + "data: not json at all\n\n"
            + "data: {]\n\n"
            + "event: ping\n",
            StringComparison.Ordinal);
        Assert.NotEqual(text, broken);

        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, Encoding.UTF8.GetBytes(broken), chunkSize);

        Assert.Equal("claude-haiku-4-5-20251001", observation.Model);
        Assert.Equal(new TokenUsage(Input: 25, Output: 25, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Whole)]
    public void Anthropic_malformed_usage_event_does_not_leak_into_the_result(int chunkSize)
    {
        var text = Encoding.UTF8.GetString(Transcript("anthropic-messages-stream-repeated-delta.sse"));
        var broken = text.Replace(
            "event: ping\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":777777,\"cache_read_input_tokens\":5,\"cache_creation_input_tokens\":6,\"output_tokens\":8}\n\n"
            + "event: ping\n",
            StringComparison.Ordinal);
        Assert.NotEqual(text, broken);

        var observation = Observe(ApiDialect.AnthropicMessages, eventStream: true, Encoding.UTF8.GetBytes(broken), chunkSize);

        // The later, well-formed message_delta events carry only output_tokens, so input and cache must stay message_start's.
        Assert.Equal(new TokenUsage(Input: 25, Output: 25, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
    }

    [Fact]
    public void OpenAI_chat_stream_cut_inside_the_usage_chunk_is_not_reported()
    {
        var events = Events(Transcript("openai-chat-stream-usage.sse"));
        var usageLine = events[6];
        var cutAt = usageLine.IndexOf("\"total_tokens\"", StringComparison.Ordinal);
        var cut = string.Concat(events.Take(6).Select(e => e + "\n\n")) + usageLine[..cutAt];

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, Encoding.UTF8.GetBytes(cut), 17);

        // Half a usage object is not a report: prompt_tokens 2048 and completion_tokens 73 arrived, the details did not.
        Assert.False(observation.ReportedByProvider);
        Assert.Equal(TokenUsage.Zero, observation.Usage);
    }

    // -------------------------------------------------------------- OpenAI chat

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void OpenAI_chat_body_splits_cached_and_reasoning_tokens(int chunkSize)
    {
        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: false, Transcript("openai-chat.json"), chunkSize);

        Assert.Equal("o4-mini-2025-04-16", observation.Model);
        Assert.Equal(new TokenUsage(Input: 1117 - 1024, Output: 250 - 192, CacheRead: 1024, CacheWrite: 0, Reasoning: 192), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void OpenAI_chat_stream_reads_usage_from_the_final_empty_choices_chunk(int chunkSize)
    {
        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, Transcript("openai-chat-stream-usage.sse"), chunkSize);

        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64), observation.Usage);
        Assert.True(observation.ReportedByProvider);
        Assert.Equal(6, observation.DeltaEvents); // role, four content chunks, finish; the usage chunk has no delta
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void OpenAI_chat_stream_reads_usage_beside_non_empty_choices(int chunkSize)
    {
        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, Transcript("openai-chat-stream-usage-with-choices.sse"), chunkSize);

        Assert.Equal("llama-3.3-70b-versatile", observation.Model);
        Assert.Equal(new TokenUsage(Input: 37, Output: 12, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void OpenAI_chat_stream_with_crlf_reads_the_same_usage(int chunkSize)
    {
        var crlf = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Transcript("openai-chat-stream-usage.sse")).Replace("\n", "\r\n", StringComparison.Ordinal));

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, crlf, chunkSize);

        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void OpenAI_chat_stream_cut_before_the_usage_chunk_is_not_reported(int chunkSize)
    {
        var cut = Encoding.UTF8.GetBytes(FirstEvents(Transcript("openai-chat-stream-usage.sse"), 6));

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, cut, chunkSize);

        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(TokenUsage.Zero, observation.Usage);
        Assert.False(observation.ReportedByProvider);
        Assert.Equal(6, observation.DeltaEvents);
    }

    [Fact]
    public void OpenAI_chat_stream_without_a_trailing_newline_still_counts_the_last_line()
    {
        var text = Encoding.UTF8.GetString(Transcript("openai-chat-stream-usage.sse"));
        var unterminated = Encoding.UTF8.GetBytes(FirstEvents(Encoding.UTF8.GetBytes(text), 7).TrimEnd('\n'));

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, unterminated, 17);

        Assert.Equal(new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void OpenAI_chat_stream_survives_malformed_events_and_keeps_the_later_usage(int chunkSize)
    {
        var events = Events(Transcript("openai-chat-stream-usage.sse"));
        var broken = string.Concat(events.Take(3).Select(e => e + "\n\n"))
            + "data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"\n\n"
            + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":999999,\"completion_tokens\":999999,\"prompt_tokens_details\":{\"cached_tokens\":5},\"completion_tokens_details\":{\"reasoning_tokens\":7}},\n\n"
            + "data: {]\n\n"
            + string.Concat(events.Skip(3).Select(e => e + "\n\n"));

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: true, Encoding.UTF8.GetBytes(broken), chunkSize);

        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    // ------------------------------------------------------- OpenAI chat rewrite

    [Theory]
    [InlineData(1, false)]
    [InlineData(17, false)]
    [InlineData(Whole, false)]
    [InlineData(1, true)]
    [InlineData(17, true)]
    [InlineData(Whole, true)]
    public void Rewrite_drops_the_injected_usage_chunk_and_its_blank_line_but_counts_it(int chunkSize, bool crlf)
    {
        var eol = crlf ? "\r\n" : "\n";
        var events = Events(Transcript("openai-chat-stream-usage.sse"));
        Assert.Equal(8, events.Count);
        Assert.Contains("\"choices\":[],\"usage\":{\"prompt_tokens\":2048", events[6], StringComparison.Ordinal);
        var input = string.Concat(events.Select(e => e + eol + eol));
        var expected = string.Concat(events.Where((_, i) => i != 6).Select(e => e + eol + eol));

        var (output, observation) = Rewrite(Encoding.UTF8.GetBytes(input), chunkSize);

        Assert.Equal(expected, output);
        Assert.EndsWith("\"finish_reason\":\"stop\"}],\"usage\":null,\"obfuscation\":\"a\"}" + eol + eol + "data: [DONE]" + eol + eol, output, StringComparison.Ordinal);
        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(Whole)]
    public void Rewrite_strips_usage_from_a_chunk_that_also_carries_content(int chunkSize)
    {
        var events = Events(Transcript("openai-chat-stream-usage-with-choices.sse"));
        Assert.Equal(5, events.Count);
        var input = string.Concat(events.Select(e => e + "\n\n"));

        var (output, observation) = Rewrite(Encoding.UTF8.GetBytes(input), chunkSize);

        var outEvents = output.Split("\n\n");
        Assert.Equal(6, outEvents.Length); // five events, then the empty remainder after the last blank line
        Assert.Equal(string.Empty, outEvents[5]);
        for (var i = 0; i < 5; i++)
        {
            if (i != 3)
            {
                Assert.Equal(events[i], outEvents[i]);
            }
        }

        Assert.StartsWith("data: ", outEvents[3], StringComparison.Ordinal);
        var rewritten = Assert.IsType<JsonObject>(JsonNode.Parse(outEvents[3]["data: ".Length..]));
        Assert.False(rewritten.ContainsKey("usage"));
        var original = Assert.IsType<JsonObject>(JsonNode.Parse(events[3]["data: ".Length..]));
        Assert.True(original.Remove("usage"));
        Assert.True(JsonNode.DeepEquals(original, rewritten));
        Assert.Equal("!", (string?)rewritten["choices"]![0]!["delta"]!["content"]);
        Assert.Equal("stop", (string?)rewritten["choices"]![0]!["finish_reason"]);

        Assert.Equal("llama-3.3-70b-versatile", observation.Model);
        Assert.Equal(new TokenUsage(Input: 37, Output: 12, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Whole)]
    public void Rewrite_keeps_crlf_on_a_chunk_stripped_of_usage(int chunkSize)
    {
        var text = Encoding.UTF8.GetString(Transcript("openai-chat-stream-usage-with-choices.sse")).Replace("\n", "\r\n", StringComparison.Ordinal);

        var (output, observation) = Rewrite(Encoding.UTF8.GetBytes(text), chunkSize);

        Assert.DoesNotContain("\"usage\":{", output, StringComparison.Ordinal);
        Assert.Equal(output.Split("\r\n").Length - 1, output.Split('\n').Length - 1); // every line still ends in CRLF
        Assert.EndsWith("\r\n\r\ndata: [DONE]\r\n\r\n", output, StringComparison.Ordinal);
        Assert.Equal(new TokenUsage(Input: 37, Output: 12, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Whole)]
    public void Rewrite_passes_malformed_events_through_unchanged(int chunkSize)
    {
        var events = Events(Transcript("openai-chat-stream-usage.sse"));
        const string Broken = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":999999,";
        var input = string.Concat(events.Take(2).Select(e => e + "\n\n")) + Broken + "\n\n" + string.Concat(events.Skip(2).Select(e => e + "\n\n"));
        var expected = string.Concat(events.Take(2).Select(e => e + "\n\n")) + Broken + "\n\n"
            + string.Concat(events.Skip(2).Where((_, i) => i != 4).Select(e => e + "\n\n"));

        var (output, observation) = Rewrite(Encoding.UTF8.GetBytes(input), chunkSize);

        Assert.Equal(expected, output);
        Assert.Equal(new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [InlineData("{\"id\":\"chatcmpl-1\",\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}")]
    [InlineData("{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud83d\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}")]
    public void Rewrite_never_throws_on_a_usage_chunk_it_cannot_rebuild(string payload)
    {
        var input = Encoding.UTF8.GetBytes("data: " + payload + "\n\ndata: [DONE]\n\n");
        string? output = null;
        UsageObservation? observation = null;

        var thrown = Record.Exception(() => (output, observation) = Rewrite(input, Whole));

        Assert.Null(thrown);
        Assert.EndsWith("data: [DONE]\n\n", output, StringComparison.Ordinal);
        Assert.Equal(new TokenUsage(Input: 3, Output: 1, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation!.Usage);
    }

    [Fact]
    public void Rewrite_is_only_for_event_streams()
    {
        using var json = new ResponseUsageParser(ApiDialect.OpenAIChatCompletions, eventStream: false, stripInjectedUsage: true);
        using var stream = new ResponseUsageParser(ApiDialect.OpenAIChatCompletions, eventStream: true, stripInjectedUsage: false);
        using var rewriting = new ResponseUsageParser(ApiDialect.OpenAIChatCompletions, eventStream: true, stripInjectedUsage: true);

        Assert.False(json.RewritesBody);
        Assert.False(stream.RewritesBody);
        Assert.True(rewriting.RewritesBody);
    }

    // ---------------------------------------------------------- OpenAI Responses

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void OpenAI_responses_body_splits_cached_and_reasoning_tokens(int chunkSize)
    {
        var observation = Observe(ApiDialect.OpenAIResponses, eventStream: false, Transcript("openai-responses.json"), chunkSize);

        Assert.Equal("gpt-5-2025-08-07", observation.Model);
        Assert.Equal(new TokenUsage(Input: 3210 - 2944, Output: 1187 - 1024, CacheRead: 2944, CacheWrite: 0, Reasoning: 1024), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void OpenAI_responses_stream_reads_usage_from_response_completed(int chunkSize)
    {
        var observation = Observe(ApiDialect.OpenAIResponses, eventStream: true, Transcript("openai-responses-stream.sse"), chunkSize);

        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(new TokenUsage(Input: 1523 - 1408, Output: 342 - 256, CacheRead: 1408, CacheWrite: 0, Reasoning: 256), observation.Usage);
        Assert.True(observation.ReportedByProvider);
        Assert.Equal(6, observation.DeltaEvents);
    }

    [Fact]
    public void OpenAI_responses_stream_cut_before_response_completed_is_not_reported()
    {
        var events = Events(Transcript("openai-responses-stream.sse"));
        Assert.StartsWith("event: response.completed", events[^1], StringComparison.Ordinal);
        var cut = Encoding.UTF8.GetBytes(string.Concat(events.SkipLast(1).Select(e => e + "\n\n")));

        var observation = Observe(ApiDialect.OpenAIResponses, eventStream: true, cut, 64);

        Assert.Equal("gpt-5-mini-2025-08-07", observation.Model);
        Assert.Equal(TokenUsage.Zero, observation.Usage);
        Assert.False(observation.ReportedByProvider);
        Assert.Equal(6, observation.DeltaEvents);
    }

    // --------------------------------------------------------- OpenAI embeddings

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void OpenAI_embeddings_body_reports_prompt_tokens_as_input(int chunkSize)
    {
        var observation = Observe(ApiDialect.OpenAIEmbeddings, eventStream: false, Transcript("openai-embeddings.json"), chunkSize);

        Assert.Equal("text-embedding-3-small", observation.Model);
        Assert.Equal(new TokenUsage(Input: 16, Output: 0, CacheRead: 0, CacheWrite: 0, Reasoning: 0), observation.Usage);
        Assert.True(observation.ReportedByProvider);
    }

    // ------------------------------------------------------------ JSON bodies

    [Theory]
    [InlineData(1)]
    [InlineData(Whole)]
    public void Malformed_json_body_does_not_throw_and_reports_no_usage(int chunkSize)
    {
        var body = Encoding.UTF8.GetBytes("{\"id\":\"chatcmpl-x\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[}, \"usage\": {\"prompt_tokens\": 5}}");

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: false, body, chunkSize);

        Assert.Equal("gpt-4o-2024-08-06", observation.Model);
        Assert.Equal(TokenUsage.Zero, observation.Usage);
        Assert.False(observation.ReportedByProvider);
    }

    [Fact]
    public void Json_body_cut_before_usage_is_not_reported()
    {
        var text = Encoding.UTF8.GetString(Transcript("openai-chat.json"));
        var cut = Encoding.UTF8.GetBytes(text[..text.IndexOf("\"usage\": {", StringComparison.Ordinal)]);

        var observation = Observe(ApiDialect.OpenAIChatCompletions, eventStream: false, cut, 17);

        Assert.Equal("o4-mini-2025-04-16", observation.Model);
        Assert.Equal(TokenUsage.Zero, observation.Usage);
        Assert.False(observation.ReportedByProvider);
    }

    // ---------------------------------------------------------------- helpers

    private static byte[] Transcript(string name) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Transcripts", name));

    /// <summary>The events of an LF transcript, without their terminating blank line.</summary>
    private static List<string> Events(byte[] transcript)
    {
        var text = Encoding.UTF8.GetString(transcript).Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.EndsWith("\n\n", text, StringComparison.Ordinal);
        return [.. text[..^2].Split("\n\n")];
    }

    /// <summary>The first <paramref name="count"/> events of a transcript with its own line endings.</summary>
    private static string FirstEvents(byte[] transcript, int count)
    {
        var text = Encoding.UTF8.GetString(transcript);
        var separator = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n\r\n" : "\n\n";
        var end = 0;
        for (var i = 0; i < count; i++)
        {
            end = text.IndexOf(separator, end, StringComparison.Ordinal) + separator.Length;
        }

        return text[..end];
    }

    private static UsageObservation Observe(ApiDialect dialect, bool eventStream, byte[] body, int chunkSize)
    {
        using var parser = new ResponseUsageParser(dialect, eventStream, stripInjectedUsage: false);
        Assert.False(parser.RewritesBody);
        for (var offset = 0; offset < body.Length; offset += chunkSize)
        {
            parser.Observe(body.AsSpan(offset, Math.Min(chunkSize, body.Length - offset)));
        }

        parser.Complete(null);
        return parser.GetObservation();
    }

    private static (string Output, UsageObservation Observation) Rewrite(byte[] body, int chunkSize)
    {
        using var parser = new ResponseUsageParser(ApiDialect.OpenAIChatCompletions, eventStream: true, stripInjectedUsage: true);
        Assert.True(parser.RewritesBody);
        var output = new ArrayBufferWriter<byte>();
        for (var offset = 0; offset < body.Length; offset += chunkSize)
        {
            parser.Rewrite(body.AsSpan(offset, Math.Min(chunkSize, body.Length - offset)), output);
        }

        parser.Complete(output);
        return (Encoding.UTF8.GetString(output.WrittenSpan), parser.GetObservation());
    }
}
