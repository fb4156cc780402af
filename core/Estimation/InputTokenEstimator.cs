using Microsoft.ML.Tokenizers;

namespace Tollgate.Core.Estimation;

/// <summary>
/// Estimates a request's input tokens for the reservation. Bodies up to <see cref="TokenizerMaxBytes"/> are counted
/// with the o200k_base tokenizer over the whole body (JSON syntax included, so the count errs high); larger bodies use
/// a bound of one token per two bytes, which no real prompt exceeds in practice. Anthropic's tokenizer yields more
/// tokens than o200k for the same text, hence <see cref="AnthropicFactor"/>. In <see cref="InputEstimateMode.Bytes"/>
/// the body's byte count is the estimate: every token of a byte-level BPE covers at least one byte, so it cannot be
/// exceeded, and the vocabulary is never loaded.
/// </summary>
public sealed class InputTokenEstimator(InputEstimateMode mode = InputEstimateMode.Tokenizer)
{
    public const int TokenizerMaxBytes = 64 * 1024;
    public const double AnthropicFactor = 1.2;

    private readonly Lazy<Tokenizer> _tokenizer = new(static () => TiktokenTokenizer.CreateForEncoding("o200k_base"), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Loads the tokenizer ahead of the first request.</summary>
    public void Warm()
    {
        if (mode == InputEstimateMode.Tokenizer)
        {
            _ = _tokenizer.Value;
        }
    }

    public InputEstimateMode Mode => mode;

    /// <summary>
    /// Counts with the tokenizer whatever the mode and size: for context caps (<c>limits.maxInputTokens</c>), where a
    /// loose bound would refuse requests that fit. JSON syntax is counted too, so the count errs a little high.
    /// </summary>
    public long Measure(ReadOnlySpan<byte> body, string provider)
    {
        var count = _tokenizer.Value.CountTokens(System.Text.Encoding.UTF8.GetString(body));
        return provider == Usage.Providers.Anthropic ? (long)Math.Ceiling(count * AnthropicFactor) : count;
    }

    public long Estimate(ReadOnlySpan<byte> body, string provider)
    {
        if (mode == InputEstimateMode.Bytes)
        {
            return body.Length;
        }

        long count;
        if (body.Length <= TokenizerMaxBytes)
        {
            var text = System.Text.Encoding.UTF8.GetString(body);
            count = _tokenizer.Value.CountTokens(text);
        }
        else
        {
            count = (body.Length + 1) / 2;
        }

        return provider == Usage.Providers.Anthropic ? (long)Math.Ceiling(count * AnthropicFactor) : count;
    }
}
