namespace Tollgate.Core.Usage;

/// <summary>
/// Usage fields exactly as a provider reported them, before they are split into disjoint token types.
/// Every field keeps its latest reported value: Anthropic's <c>message_delta</c> usage is cumulative and may repeat,
/// so summing would double count.
/// </summary>
internal struct UsageFields
{
    /// <summary>Anthropic <c>input_tokens</c> (uncached); OpenAI <c>prompt_tokens</c> / <c>input_tokens</c> (includes cached).</summary>
    public long? InputTokens;

    /// <summary>Anthropic <c>output_tokens</c>; OpenAI <c>completion_tokens</c> / <c>output_tokens</c> (includes reasoning).</summary>
    public long? OutputTokens;

    public long? CacheCreationInputTokens;

    public long? CacheReadInputTokens;

    /// <summary>OpenAI <c>prompt_tokens_details.cached_tokens</c> / <c>input_tokens_details.cached_tokens</c>.</summary>
    public long? CachedTokens;

    /// <summary>OpenAI <c>completion_tokens_details.reasoning_tokens</c> / <c>output_tokens_details.reasoning_tokens</c>.</summary>
    public long? ReasoningTokens;

    public readonly TokenUsage Normalize(string provider)
    {
        if (provider == Providers.Anthropic)
        {
            return new TokenUsage(
                Input: InputTokens ?? 0,
                Output: OutputTokens ?? 0,
                CacheRead: CacheReadInputTokens ?? 0,
                CacheWrite: CacheCreationInputTokens ?? 0,
                Reasoning: 0);
        }

        var cached = CachedTokens ?? 0;
        var reasoning = ReasoningTokens ?? 0;
        return new TokenUsage(
            Input: Math.Max(0, (InputTokens ?? 0) - cached),
            Output: Math.Max(0, (OutputTokens ?? 0) - reasoning),
            CacheRead: cached,
            CacheWrite: 0,
            Reasoning: reasoning);
    }
}
