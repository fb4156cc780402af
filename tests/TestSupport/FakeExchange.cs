using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Tollgate.TestSupport;

/// <summary>The fields of a request body the fake reacts to; everything else is ignored like an echo server would.</summary>
internal readonly record struct RequestBody(string? Model, bool Stream, bool IncludeUsage, int? MaxTokens)
{
    /// <summary>Reads only top-level fields so a large prompt costs one forward pass and no allocations beyond the model name.</summary>
    public static RequestBody Parse(ReadOnlySequence<byte> body)
    {
        if (body.IsEmpty)
        {
            return default;
        }

        var reader = new Utf8JsonReader(body);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("request body must be a JSON object");
        }

        string? model = null;
        var stream = false;
        var includeUsage = false;
        int? maxTokens = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("stream"u8))
            {
                reader.Read();
                stream = reader.TokenType == JsonTokenType.True;
            }
            else if (reader.ValueTextEquals("max_tokens"u8)
                || reader.ValueTextEquals("max_completion_tokens"u8)
                || reader.ValueTextEquals("max_output_tokens"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value))
                {
                    maxTokens = value;
                }
            }
            else if (reader.ValueTextEquals("stream_options"u8))
            {
                reader.Read();
                includeUsage = ReadIncludeUsage(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new RequestBody(model, stream, includeUsage, maxTokens);
    }

    private static bool ReadIncludeUsage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }

        var includeUsage = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
            reader.Read();
            if (isIncludeUsage)
            {
                includeUsage = reader.TokenType == JsonTokenType.True;
            }
            else
            {
                reader.Skip();
            }
        }

        return includeUsage;
    }
}

/// <summary>The per-request <c>x-fake-*</c> knobs, parsed once.</summary>
internal sealed record FakeKnobs(
    FakeUsage Usage,
    string? Model,
    int Chunks,
    int ChunkDelayMs,
    int? Status,
    int? DisconnectAfter,
    bool RepeatDelta,
    bool UsageChunkChoices,
    bool OmitUsage)
{
    public const int DefaultChunks = 5;

    /// <summary>Returns null and an error message when a knob is malformed, so a typo in a test fails loudly instead of silently using defaults.</summary>
    public static FakeKnobs? Parse(IHeaderDictionary headers, FakeUsage defaultUsage, out string? error)
    {
        error = null;
        var usage = defaultUsage;
        var usageHeader = headers["x-fake-usage"];
        if (!StringValues.IsNullOrEmpty(usageHeader) && !TryParseUsage(usageHeader.ToString(), defaultUsage, out usage))
        {
            error = $"x-fake-usage: cannot parse '{usageHeader}' (expected e.g. input=120,output=45,cache_read=10,cache_write=5,reasoning=7)";
            return null;
        }

        if (!TryGetInt(headers, "x-fake-chunks", out var chunks, ref error)
            || !TryGetInt(headers, "x-fake-chunk-delay-ms", out var delay, ref error)
            || !TryGetInt(headers, "x-fake-status", out var status, ref error)
            || !TryGetInt(headers, "x-fake-disconnect-after", out var disconnectAfter, ref error))
        {
            return null;
        }

        if (status is < 400 or > 599)
        {
            error = $"x-fake-status: expected an error status 400-599, got {status}";
            return null;
        }

        var model = headers["x-fake-model"];
        return new FakeKnobs(
            usage,
            StringValues.IsNullOrEmpty(model) ? null : model.ToString(),
            chunks ?? DefaultChunks,
            delay ?? 0,
            status,
            disconnectAfter,
            IsTrue(headers["x-fake-repeat-delta"]),
            IsTrue(headers["x-fake-usage-chunk-choices"]),
            IsTrue(headers["x-fake-omit-usage"]));
    }

    private static bool IsTrue(StringValues value) =>
        !StringValues.IsNullOrEmpty(value) && (value.ToString() is var text)
        && (text.Equals("true", StringComparison.OrdinalIgnoreCase) || text == "1");

    private static bool TryGetInt(IHeaderDictionary headers, string name, out int? value, ref string? error)
    {
        value = null;
        var raw = headers[name];
        if (StringValues.IsNullOrEmpty(raw))
        {
            return true;
        }

        if (int.TryParse(raw.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) && parsed >= 0)
        {
            value = parsed;
            return true;
        }

        error = $"{name}: expected a non-negative integer, got '{raw}'";
        return false;
    }

    private static bool TryParseUsage(string header, FakeUsage defaults, out FakeUsage usage)
    {
        usage = defaults;
        var input = defaults.Input;
        var output = defaults.Output;
        var cacheRead = defaults.CacheRead;
        var cacheWrite = defaults.CacheWrite;
        var reasoning = defaults.Reasoning;
        var span = header.AsSpan();
        foreach (var range in span.Split(','))
        {
            var pair = span[range].Trim();
            if (pair.IsEmpty)
            {
                continue;
            }

            var eq = pair.IndexOf('=');
            if (eq <= 0
                || !int.TryParse(pair[(eq + 1)..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count)
                || count < 0)
            {
                return false;
            }

            switch (pair[..eq].Trim())
            {
                case "input": input = count; break;
                case "output": output = count; break;
                case "cache_read": cacheRead = count; break;
                case "cache_write": cacheWrite = count; break;
                case "reasoning": reasoning = count; break;
                default: return false;
            }
        }

        usage = new FakeUsage(input, output, cacheRead, cacheWrite, reasoning);
        return true;
    }
}

/// <summary>Everything one response needs: parsed body, knobs, and the ids/timestamps that must agree across events.</summary>
internal sealed class FakeExchange(RequestBody body, FakeKnobs knobs)
{
    private byte[]? _text;
    private int _textLength;

    public RequestBody Body { get; } = body;

    public FakeKnobs Knobs { get; } = knobs;

    public FakeUsage Usage => Knobs.Usage;

    public string Model { get; } = knobs.Model ?? body.Model ?? "fake-model";

    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>True when the reported output reaches the request's token cap, so stop reasons say so like the real APIs.</summary>
    public bool HitMaxTokens => Body.MaxTokens is { } max && Usage.Output + Usage.Reasoning >= max;

    /// <summary>The whole completion text: the concatenation of every delta, so streamed and non-streamed bodies agree.</summary>
    public ReadOnlySpan<byte> Text
    {
        get
        {
            if (_text is null)
            {
                var length = 0;
                for (var i = 0; i < Knobs.Chunks; i++)
                {
                    length += Words.Get(i).Length;
                }

                _text = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                var offset = 0;
                for (var i = 0; i < Knobs.Chunks; i++)
                {
                    var word = Words.Get(i);
                    word.CopyTo(_text.AsSpan(offset));
                    offset += word.Length;
                }

                _textLength = length;
            }

            return _text.AsSpan(0, _textLength);
        }
    }

    public void ReturnBuffers()
    {
        if (_text is not null)
        {
            ArrayPool<byte>.Shared.Return(_text);
            _text = null;
        }
    }
}

/// <summary>Deterministic completion text, one word per delta.</summary>
internal static class Words
{
    private static readonly byte[][] All =
    [
        "Hello"u8.ToArray(), " from"u8.ToArray(), " the"u8.ToArray(), " Tollgate"u8.ToArray(), " fake"u8.ToArray(),
        " upstream,"u8.ToArray(), " streaming"u8.ToArray(), " one"u8.ToArray(), " word"u8.ToArray(), " per"u8.ToArray(),
        " delta."u8.ToArray(),
    ];

    public static ReadOnlySpan<byte> Get(int index) => All[index % All.Length];
}
