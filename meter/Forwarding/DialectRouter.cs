using Tollgate.Core.Usage;

namespace Tollgate.Meter.Forwarding;

/// <summary>Which provider API a request speaks, from its method and path.</summary>
internal static class DialectRouter
{
    public static ApiDialect Route(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method))
        {
            return ApiDialect.Passthrough;
        }

        var path = request.Path.Value ?? string.Empty;
        return path switch
        {
            "/v1/messages" => ApiDialect.AnthropicMessages,
            "/v1/messages/count_tokens" => ApiDialect.AnthropicCountTokens,
            "/v1/chat/completions" => ApiDialect.OpenAIChatCompletions,
            "/v1/responses" => ApiDialect.OpenAIResponses,
            "/v1/embeddings" => ApiDialect.OpenAIEmbeddings,
            _ => ApiDialect.Passthrough,
        };
    }

    /// <summary>The provider of a request the meter does not meter: Anthropic's clients always send <c>anthropic-version</c>.</summary>
    public static string ProviderOfPassthrough(HttpRequest request) =>
        request.Path.StartsWithSegments("/v1/messages", StringComparison.Ordinal) || request.Headers.ContainsKey("anthropic-version")
            ? Providers.Anthropic
            : Providers.OpenAI;
}
