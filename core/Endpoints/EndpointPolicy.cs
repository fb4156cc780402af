using Tollgate.Core.Matching;
using Tollgate.Core.Policy;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Endpoints;

/// <summary>What the meter does with a request, decided from its method and canonical path alone.</summary>
public enum EndpointKind
{
    /// <summary>A billable call: tags, budgets, metering, the meter's key.</summary>
    Metered,

    /// <summary>A call the provider never bills (model lists, token counting, moderation): tags and the meter's key, no cost.</summary>
    Free,

    /// <summary>Outside the meter's knowledge but let through by <c>--allow-unmetered</c>: tags, no key, no cost.</summary>
    Unmetered,

    /// <summary>Outside the meter's knowledge: refused, so that no spend escapes the budgets and no key leaves with it.</summary>
    Refused,
}

/// <param name="Kind">What the meter does with the request.</param>
/// <param name="Dialect">How the body and usage are read (metered and body-carrying free calls), or <see cref="ApiDialect.Passthrough"/>.</param>
/// <param name="Provider">The upstream that serves it.</param>
public readonly record struct EndpointDecision(EndpointKind Kind, ApiDialect Dialect, string Provider);

/// <summary>
/// The path policy, default-deny: every endpoint is metered, known to be free, or refused unless an operator
/// allows it unmetered. Matching is exact on the canonical path (<see cref="CanonicalPath"/>), never on a prefix.
/// </summary>
public sealed class EndpointPolicy(IReadOnlyList<string> allowUnmetered)
{
    public IReadOnlyList<string> AllowUnmetered { get; } = allowUnmetered;

    /// <param name="method">The HTTP method.</param>
    /// <param name="path">The canonical path.</param>
    /// <param name="anthropicVersionSent">Whether the request carries <c>anthropic-version</c> (it tells the two <c>/v1/models</c> apart).</param>
    public EndpointDecision Classify(string method, string path, bool anthropicVersionSent)
    {
        var post = string.Equals(method, "POST", StringComparison.OrdinalIgnoreCase);
        var get = string.Equals(method, "GET", StringComparison.OrdinalIgnoreCase);
        if (post)
        {
            switch (path)
            {
                case "/v1/messages":
                    return new(EndpointKind.Metered, ApiDialect.AnthropicMessages, Providers.Anthropic);
                case "/v1/chat/completions":
                    return new(EndpointKind.Metered, ApiDialect.OpenAIChatCompletions, Providers.OpenAI);
                case "/v1/completions":
                    return new(EndpointKind.Metered, ApiDialect.OpenAICompletions, Providers.OpenAI);
                case "/v1/responses":
                    return new(EndpointKind.Metered, ApiDialect.OpenAIResponses, Providers.OpenAI);
                case "/v1/embeddings":
                    return new(EndpointKind.Metered, ApiDialect.OpenAIEmbeddings, Providers.OpenAI);
                case "/v1/messages/count_tokens":
                    return new(EndpointKind.Free, ApiDialect.AnthropicCountTokens, Providers.Anthropic);
                case "/v1/moderations":
                    return new(EndpointKind.Free, ApiDialect.Passthrough, Providers.OpenAI);
            }
        }

        var provider = anthropicVersionSent ? Providers.Anthropic : Providers.OpenAI;
        if (get && (path == "/v1/models" || IsModelPath(path)))
        {
            return new(EndpointKind.Free, ApiDialect.Passthrough, provider);
        }

        foreach (var pattern in AllowUnmetered)
        {
            if (Glob.IsMatch(pattern, path))
            {
                return new(EndpointKind.Unmetered, ApiDialect.Passthrough, provider);
            }
        }

        return new(EndpointKind.Refused, ApiDialect.Passthrough, provider);
    }

    /// <summary><c>/v1/models/{id}</c> with one segment of model-id characters (OpenAI fine-tune ids carry colons).</summary>
    private static bool IsModelPath(string path)
    {
        const string prefix = "/v1/models/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal) || path.Length == prefix.Length || path.Length > prefix.Length + 256)
        {
            return false;
        }

        foreach (var c in path.AsSpan(prefix.Length))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '@'))
            {
                return false;
            }
        }

        return true;
    }
}
