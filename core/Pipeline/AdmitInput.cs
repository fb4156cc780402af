using Tollgate.Core.Estimation;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Pipeline;

/// <summary>What the admit stage needs of the meter's configuration.</summary>
/// <param name="NamespaceLabels">Labels of the meter's namespace, for budgets' <c>namespaceSelector</c>.</param>
/// <param name="DefaultMaxOutputTokens">The output reserved when a request sets no cap.</param>
public sealed record AdmitSettings(IReadOnlyDictionary<string, string> NamespaceLabels, long DefaultMaxOutputTokens);

/// <summary>A metered request as the admit stage reads it.</summary>
/// <param name="Dialect">Its API.</param>
/// <param name="Body">The body the client sent, read once.</param>
/// <param name="Shape">The model, stream flag and output cap read from it.</param>
/// <param name="Headers">What besides the body decides the bytes a client gets.</param>
/// <param name="CanAnswerFixed">Whether a budget fallback's fixed response can be written in the client's API.</param>
public sealed record AdmitInput(ApiDialect Dialect, ReadOnlyMemory<byte> Body, RequestShape Shape, ResponseVariant Headers, bool CanAnswerFixed)
{
    /// <summary>
    /// The part of the cache key besides the body: the path, the API version and beta headers, and whether the meter
    /// hid a usage chunk it asked for (the key ignores <c>stream_options</c>, so this tells them apart).
    /// </summary>
    public string CacheVariant(bool usageHidden) =>
        $"{Headers.Path}|{Headers.AnthropicVersion}|{Headers.AnthropicBeta}|{Headers.OpenAIBeta}|{(usageHidden ? "usage-hidden" : "usage-as-asked")}";
}

/// <summary>The request's path and the headers that select a provider's API version and betas.</summary>
public sealed record ResponseVariant(string Path, string AnthropicVersion, string AnthropicBeta, string OpenAIBeta);

/// <summary>A routing target made concrete for one request; the admit stage needs only the model it sends.</summary>
public interface IRouteCandidate
{
    string Model { get; }
}
