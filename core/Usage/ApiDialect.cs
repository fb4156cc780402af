namespace Tollgate.Core.Usage;

/// <summary>The provider API a request speaks; decides how its body and usage are read.</summary>
public enum ApiDialect
{
    /// <summary>Any other path: forwarded untouched and not metered.</summary>
    Passthrough,
    AnthropicMessages,
    AnthropicCountTokens,
    OpenAIChatCompletions,
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
