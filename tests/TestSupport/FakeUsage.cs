namespace Tollgate.TestSupport;

/// <summary>
/// Token counts the fake reports, one value per disjoint token type (the same split as the
/// <c>tollgate_tokens_total</c> <c>type</c> label). Each wire format folds them the way the real provider does.
/// </summary>
public sealed record FakeUsage(int Input = 0, int Output = 0, int CacheRead = 0, int CacheWrite = 0, int Reasoning = 0)
{
    /// <summary>Anthropic <c>output_tokens</c>: Anthropic has no reasoning field, thinking is billed as output.</summary>
    public int AnthropicOutputTokens => Output + Reasoning;

    /// <summary>OpenAI <c>prompt_tokens</c> / <c>input_tokens</c>: cached tokens are part of the prompt.</summary>
    public int OpenAiPromptTokens => Input + CacheRead;

    /// <summary>OpenAI <c>completion_tokens</c> / <c>output_tokens</c>: reasoning is part of the completion.</summary>
    public int OpenAiCompletionTokens => Output + Reasoning;
}
