using System.Buffers;
using System.Text.Json;

namespace Tollgate.Core.Usage;

/// <summary>
/// Finds the usage fields and the served model in provider JSON without materialising the document. It walks tokens
/// with <see cref="Utf8JsonReader"/>, tracking only the names of the enclosing containers, so it reads a
/// non-streamed body chunk by chunk as it flows through the proxy and a streamed event's payload in one call.
/// The same paths cover every dialect: <c>usage.*</c> (top level), <c>message.usage.*</c> (Anthropic
/// <c>message_start</c>) and <c>response.usage.*</c> (OpenAI Responses events).
/// </summary>
internal sealed class UsageJsonScanner : IDisposable
{
    private const int MaxTrackedDepth = 64;

    // A single JSON token larger than this (a huge completion string) stops the scan rather than growing without bound.
    private const int MaxCarryBytes = 8 * 1024 * 1024;

    private readonly Name[] _stack = new Name[MaxTrackedDepth];
    private int _depth;
    private Name _pending;
    private bool _inFinalUsage;
    private int _finalUsageDepth;

    private JsonReaderState _readerState;
    private byte[]? _carry;
    private int _carryLength;
    private bool _failed;

    public UsageFields Fields;

    public string? Model { get; private set; }

    /// <summary>True once a complete usage object that closes the response (not Anthropic's opening estimate) was seen.</summary>
    public bool FinalUsageSeen { get; private set; }

    /// <summary>True when any usage number was seen.</summary>
    public bool AnyUsageSeen { get; private set; }

    public bool Failed => _failed;

    private enum Name : byte
    {
        None,
        Other,
        Usage,
        Message,
        Response,
        Model,
        InputTokens,
        OutputTokens,
        PromptTokens,
        CompletionTokens,
        CacheCreationInputTokens,
        CacheReadInputTokens,
        CachedTokens,
        ReasoningTokens,
        InputDetails,
        OutputDetails,
    }

    /// <summary>Scans one complete JSON document (an SSE <c>data:</c> payload). Returns whether it carried usage.</summary>
    public bool ScanDocument(ReadOnlySpan<byte> json)
    {
        // All or nothing: a malformed event must not leave half of its numbers behind.
        var fields = Fields;
        var model = Model;
        var finalSeen = FinalUsageSeen;
        var anySeen = AnyUsageSeen;
        _depth = 0;
        _pending = Name.None;
        _inFinalUsage = false;
        try
        {
            var reader = new Utf8JsonReader(json, isFinalBlock: true, state: default);
            return Walk(ref reader);
        }
        catch (JsonException)
        {
            Fields = fields;
            Model = model;
            FinalUsageSeen = finalSeen;
            AnyUsageSeen = anySeen;
            return false;
        }
    }

    /// <summary>Scans the next chunk of a JSON body that arrives in pieces.</summary>
    public void ScanChunk(ReadOnlySpan<byte> chunk, bool isFinal)
    {
        if (_failed)
        {
            return;
        }

        ReadOnlySpan<byte> input = chunk;
        if (_carryLength > 0)
        {
            EnsureCarry(_carryLength + chunk.Length);
            chunk.CopyTo(_carry.AsSpan(_carryLength));
            _carryLength += chunk.Length;
            input = _carry.AsSpan(0, _carryLength);
        }

        int consumed;
        try
        {
            var reader = new Utf8JsonReader(input, isFinal, _readerState);
            Walk(ref reader);
            consumed = (int)reader.BytesConsumed;
            _readerState = reader.CurrentState;
        }
        catch (JsonException)
        {
            _failed = true;
            return;
        }

        var rest = input[consumed..];
        if (rest.Length > MaxCarryBytes)
        {
            _failed = true;
            return;
        }

        if (rest.Length > 0)
        {
            if (_carryLength > 0)
            {
                // rest lives inside _carry: move it to the front.
                rest.CopyTo(_carry);
            }
            else
            {
                EnsureCarry(rest.Length);
                rest.CopyTo(_carry);
            }
        }

        _carryLength = rest.Length;
    }

    public void Dispose()
    {
        if (_carry is not null)
        {
            ArrayPool<byte>.Shared.Return(_carry);
            _carry = null;
        }
    }

    private void EnsureCarry(int size)
    {
        if (_carry is null)
        {
            _carry = ArrayPool<byte>.Shared.Rent(Math.Max(size, 4096));
        }
        else if (_carry.Length < size)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(size, _carry.Length * 2));
            _carry.AsSpan(0, _carryLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_carry);
            _carry = bigger;
        }
    }

    private bool Walk(ref Utf8JsonReader reader)
    {
        var saw = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    _pending = Classify(ref reader);
                    break;
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    if (_pending == Name.Usage && reader.TokenType == JsonTokenType.StartObject)
                    {
                        var parent = Parent(1);
                        if (_depth == 1 || parent == Name.Response)
                        {
                            _inFinalUsage = true;
                            _finalUsageDepth = _depth + 1;
                        }
                    }

                    Push(_pending);
                    _pending = Name.None;
                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    if (_inFinalUsage && _depth == _finalUsageDepth)
                    {
                        // Only a usage object that closed is the provider's final word; a cut one is not.
                        _inFinalUsage = false;
                        FinalUsageSeen = true;
                    }

                    _depth--;
                    _pending = Name.None;
                    break;
                case JsonTokenType.Number:
                    saw |= OnNumber(ref reader);
                    _pending = Name.None;
                    break;
                case JsonTokenType.String:
                    if (_pending == Name.Model && (_depth == 1 || (_depth == 2 && Parent(1) is Name.Message or Name.Response)))
                    {
                        Model ??= reader.GetString();
                    }

                    _pending = Name.None;
                    break;
                default:
                    _pending = Name.None;
                    break;
            }
        }

        return saw;
    }

    private void Push(Name name)
    {
        if (_depth < MaxTrackedDepth)
        {
            _stack[_depth] = name;
        }

        _depth++;
    }

    /// <summary>The name of the container <paramref name="up"/> levels above the current value (1 = the current container).</summary>
    private Name Parent(int up)
    {
        var index = _depth - up;
        return index is >= 0 and < MaxTrackedDepth ? _stack[index] : Name.None;
    }

    private bool OnNumber(ref Utf8JsonReader reader)
    {
        var parent = Parent(1);
        if (parent == Name.Usage)
        {
            switch (_pending)
            {
                case Name.InputTokens or Name.PromptTokens:
                    Fields.InputTokens = Read(ref reader);
                    break;
                case Name.OutputTokens or Name.CompletionTokens:
                    Fields.OutputTokens = Read(ref reader);
                    break;
                case Name.CacheCreationInputTokens:
                    Fields.CacheCreationInputTokens = Read(ref reader);
                    break;
                case Name.CacheReadInputTokens:
                    Fields.CacheReadInputTokens = Read(ref reader);
                    break;
                default:
                    return false;
            }
        }
        else if (parent == Name.InputDetails && Parent(2) == Name.Usage && _pending == Name.CachedTokens)
        {
            Fields.CachedTokens = Read(ref reader);
        }
        else if (parent == Name.OutputDetails && Parent(2) == Name.Usage && _pending == Name.ReasoningTokens)
        {
            Fields.ReasoningTokens = Read(ref reader);
        }
        else
        {
            return false;
        }

        AnyUsageSeen = true;
        return true;
    }

    private static long Read(ref Utf8JsonReader reader) =>
        reader.TryGetInt64(out var value) ? Math.Max(0, value) : (long)Math.Max(0, Math.Ceiling(reader.GetDouble()));

    private static Name Classify(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("usage"u8))
        {
            return Name.Usage;
        }

        if (reader.ValueTextEquals("model"u8))
        {
            return Name.Model;
        }

        if (reader.ValueTextEquals("message"u8))
        {
            return Name.Message;
        }

        if (reader.ValueTextEquals("response"u8))
        {
            return Name.Response;
        }

        if (reader.ValueTextEquals("input_tokens"u8))
        {
            return Name.InputTokens;
        }

        if (reader.ValueTextEquals("output_tokens"u8))
        {
            return Name.OutputTokens;
        }

        if (reader.ValueTextEquals("prompt_tokens"u8))
        {
            return Name.PromptTokens;
        }

        if (reader.ValueTextEquals("completion_tokens"u8))
        {
            return Name.CompletionTokens;
        }

        if (reader.ValueTextEquals("cache_creation_input_tokens"u8))
        {
            return Name.CacheCreationInputTokens;
        }

        if (reader.ValueTextEquals("cache_read_input_tokens"u8))
        {
            return Name.CacheReadInputTokens;
        }

        if (reader.ValueTextEquals("cached_tokens"u8))
        {
            return Name.CachedTokens;
        }

        if (reader.ValueTextEquals("reasoning_tokens"u8))
        {
            return Name.ReasoningTokens;
        }

        if (reader.ValueTextEquals("prompt_tokens_details"u8) || reader.ValueTextEquals("input_tokens_details"u8))
        {
            return Name.InputDetails;
        }

        if (reader.ValueTextEquals("completion_tokens_details"u8) || reader.ValueTextEquals("output_tokens_details"u8))
        {
            return Name.OutputDetails;
        }

        return Name.Other;
    }
}
