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

    /// <summary>Reads the top-level fields of a JSON request body; anything else is skipped without materialising it.</summary>
    /// <exception cref="JsonException">The body is not a JSON object.</exception>
    public static RequestShape Read(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("the request body must be a JSON object");
        }

        string? model = null;
        var stream = false;
        long? maxTokens = null;
        var includeUsage = false;
        var hasStreamOptions = false;
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
            else if (reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("max_output_tokens"u8))
            {
                reader.Read();
                // A value that is not a non-negative Int64 is no cap at all; request validation answers it with a 400.
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= 0)
                {
                    maxTokens = Math.Max(maxTokens ?? 0, value);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("stream_options"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    hasStreamOptions = true;
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isIncludeUsage = reader.ValueTextEquals("include_usage"u8);
                        reader.Read();
                        if (isIncludeUsage)
                        {
                            includeUsage = reader.TokenType == JsonTokenType.True;
                        }

                        reader.Skip();
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new RequestShape(model, stream, maxTokens, includeUsage, hasStreamOptions);
    }
}
