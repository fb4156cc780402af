using System.Text.Json;

namespace Tollgate.Core.Estimation;

/// <summary>What the meter needs from a request body: the model, whether it streams and its output cap.</summary>
/// <param name="MaxOutputTokens">
/// The largest of <c>max_tokens</c>, <c>max_completion_tokens</c> and <c>max_output_tokens</c> that is a whole number from
/// 0 to Int64.MaxValue; null when none is (absent, negative, fractional, 1e30, a string), so the meter's default applies.
/// It is the client's number, not yet bounded by the model: <see cref="Budgets.BudgetEstimate.Reserve"/> caps it.
/// </param>
public sealed record RequestShape(string? Model, bool Stream, long? MaxOutputTokens, bool IncludeUsageRequested, bool HasStreamOptions)
{
    public static RequestShape Empty { get; } = new(null, false, null, false, false);

    /// <summary>
    /// Reads the top-level fields of a JSON request body and checks the whole document. The meter and the provider
    /// must read the same values from one body, so anything two parsers may read differently is refused: a key given
    /// twice in any object (even spelled with escapes), data after the object, or a field the meter reads holding the
    /// wrong type.
    /// </summary>
    /// <exception cref="RequestBodyException">The body is not one JSON object the meter can read unambiguously.</exception>
    public static RequestShape Read(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 128, AllowMultipleValues = true });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new RequestBodyException("The request body must be a JSON object.");
            }

            var keys = new DuplicateKeyCheck();
            keys.Enter(0);
            string? model = null;
            var stream = false;
            long? maxTokens = null;
            var includeUsage = false;
            var hasStreamOptions = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                keys.Add(ref reader, "");
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    model = reader.TokenType switch
                    {
                        JsonTokenType.String => reader.GetString(),
                        JsonTokenType.Null => null,
                        _ => throw new RequestBodyException("\"model\" must be a string."),
                    };
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    stream = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False or JsonTokenType.Null => false,
                        _ => throw new RequestBodyException("\"stream\" must be true or false."),
                    };
                }
                else if (reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("max_output_tokens"u8))
                {
                    var name = reader.GetString();
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        continue;
                    }

                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value) || value < 0)
                    {
                        throw new RequestBodyException($"\"{name}\" must be a non-negative integer.");
                    }

                    maxTokens = Math.Max(maxTokens ?? 0, value);
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        hasStreamOptions = true;
                        keys.Enter(1);
                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            keys.Add(ref reader, "stream_options.");
                            var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
                            reader.Read();
                            if (isIncludeUsage)
                            {
                                includeUsage = reader.TokenType switch
                                {
                                    JsonTokenType.True => true,
                                    JsonTokenType.False or JsonTokenType.Null => false,
                                    _ => throw new RequestBodyException("\"stream_options.include_usage\" must be true or false."),
                                };
                            }

                            keys.Walk(ref reader);
                        }
                    }
                    else
                    {
                        keys.Walk(ref reader);
                    }
                }
                else
                {
                    reader.Read();
                    keys.Walk(ref reader);
                }
            }

            if (reader.Read())
            {
                throw new RequestBodyException("The request body has data after its JSON object.");
            }

            return new RequestShape(model, stream, maxTokens, includeUsage, hasStreamOptions);
        }
        catch (JsonException ex)
        {
            // The parser's own message names internals; say where, in the body's terms.
            throw new RequestBodyException(
                $"The request body is not valid JSON (line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1}).");
        }
    }

    /// <summary>Remembers the keys of every open object (by a hash of the unescaped name) and refuses a repeat.</summary>
    private sealed class DuplicateKeyCheck
    {
        private readonly List<HashSet<ulong>> _levels = [];

        public void Enter(int level)
        {
            while (_levels.Count <= level)
            {
                _levels.Add([]);
            }

            _levels[level].Clear();
        }

        public void Add(ref Utf8JsonReader reader, string parent)
        {
            var level = Math.Max(0, reader.CurrentDepth - 1);
            if (!_levels[level].Add(Hash(ref reader)))
            {
                var name = reader.GetString() ?? string.Empty;
                throw new RequestBodyException(
                    $"The request body gives the key \"{parent}{Shorten(name)}\" twice in one object; send each key once.");
            }
        }

        /// <summary>Walks the value the reader is on (a scalar, or a whole array or object), checking nested objects' keys.</summary>
        public void Walk(ref Utf8JsonReader reader)
        {
            if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                return;
            }

            var depth = reader.CurrentDepth;
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                Enter(depth);
            }

            while (reader.Read() && reader.CurrentDepth > depth)
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        Enter(reader.CurrentDepth);
                        break;
                    case JsonTokenType.PropertyName:
                        Add(ref reader, "…");
                        break;
                }
            }
        }

        private static ulong Hash(ref Utf8JsonReader reader)
        {
            // FNV-1a over the unescaped name: "a" and "\u0061" are one key to every parser, so they must be one here.
            if (!reader.ValueIsEscaped && !reader.HasValueSequence)
            {
                return Fnv(reader.ValueSpan);
            }

            var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
            if (length <= 256)
            {
                Span<byte> buffer = stackalloc byte[256];
                return Fnv(buffer[..reader.CopyString(buffer)]);
            }

            var rented = new byte[length];
            return Fnv(rented.AsSpan(0, reader.CopyString(rented)));
        }

        private static ulong Fnv(ReadOnlySpan<byte> name)
        {
            var hash = 14695981039346656037UL;
            foreach (var b in name)
            {
                hash = (hash ^ b) * 1099511628211UL;
            }

            return hash;
        }

        private static string Shorten(string name) =>
            Sanitize(name.Length <= 64 ? name : name[..64] + "…");

        private static string Sanitize(string text) =>
            string.Create(text.Length, text, static (span, source) =>
            {
                for (var i = 0; i < source.Length; i++)
                {
                    span[i] = char.IsControl(source[i]) ? '?' : source[i];
                }
            });
    }
}

/// <summary>A request body the meter refuses with 400 <c>invalid_request</c>; the message is safe to show the client.</summary>
public sealed class RequestBodyException(string message) : Exception(message);
