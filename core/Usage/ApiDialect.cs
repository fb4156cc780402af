namespace Tollgate.Core.Usage;

/// <summary>The provider API a request speaks; decides how its body and usage are read.</summary>
public enum ApiDialect
{
    /// <summary>A call whose body the meter does not read (free or explicitly unmetered endpoints).</summary>
    Passthrough,
    AnthropicMessages,
    AnthropicCountTokens,
    OpenAIChatCompletions,

    /// <summary>OpenAI's legacy <c>/v1/completions</c>: the chat wire shape for usage, <c>text</c> instead of <c>delta</c> in chunks.</summary>
    OpenAICompletions,
    OpenAIResponses,
    OpenAIEmbeddings,
}

/// <summary>Provider names as they appear in metrics, pricing and upstream configuration.</summary>
public static class Providers
{
    public const string Anthropic = "anthropic";
    public const string OpenAI = "openai";

    public static string Of(ApiDialect dialect) => dialect switch
    {
        ApiDialect.AnthropicMessages or ApiDialect.AnthropicCountTokens => Anthropic,
        _ => OpenAI,
    };
}
