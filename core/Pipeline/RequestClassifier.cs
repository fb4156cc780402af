using Microsoft.Extensions.Primitives;
using Tollgate.Core.Endpoints;
using Tollgate.Core.Estimation;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// The classify stage: what a request is before anything is reserved or sent. Its path is made canonical and decides
/// the dialect (or a refusal), its tagging header is checked against the pod's identity, and its body is read for the
/// model, stream flag and output cap. Everything here is the client's input, so every step can refuse.
/// </summary>
/// <param name="endpoints">Which paths are metered, free, allowed unmetered or refused.</param>
/// <param name="identityTags">Tags from the pod's identity; they win over the header.</param>
/// <param name="requiredTags">Tag keys every request must carry.</param>
public sealed class RequestClassifier(EndpointPolicy endpoints, IReadOnlyDictionary<string, string> identityTags, IReadOnlyList<string> requiredTags)
{
    /// <summary>The provider whose error shape suits a request refused before its endpoint is known.</summary>
    public static string ProviderHint(bool anthropicVersionSent) => anthropicVersionSent ? Providers.Anthropic : Providers.OpenAI;

    /// <summary>Canonicalizes the path and classifies the endpoint; a refused endpoint is a 403, an ambiguous path a 400.</summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="rawTarget">The request target as the client sent it, query included.</param>
    /// <param name="anthropicVersionSent">Whether the client sent <c>anthropic-version</c>.</param>
    public Classified<ClassifiedPath> ClassifyPath(string method, string rawTarget, bool anthropicVersionSent)
    {
        var query = rawTarget.IndexOf('?');
        if (!CanonicalPath.TryCanonicalize(query < 0 ? rawTarget : rawTarget.AsSpan(0, query), out var path, out var pathError))
        {
            return new Refusal(400, ProviderHint(anthropicVersionSent), "invalid_request", pathError!);
        }

        var endpoint = endpoints.Classify(method, path, anthropicVersionSent);
        if (endpoint.Kind == EndpointKind.Refused)
        {
            // The path comes back with the refusal: the meter logs what it refused.
            return new Classified<ClassifiedPath>(new ClassifiedPath(path, endpoint), new Refusal(403, endpoint.Provider, "endpoint_not_metered",
                $"The meter does not meter {method} {path}, so it refuses it: spend it cannot price would escape every budget. "
                + $"If pipelines need this endpoint, start the meter with --allow-unmetered '{path}' (globs such as '/v1/files*' work); it is then forwarded unmetered and without the meter's provider key, so the client must send its own.",
                json =>
                {
                    json.WriteString("method", method);
                    json.WriteString("path", path);
                }));
        }

        return new ClassifiedPath(path, endpoint);
    }

    /// <summary>
    /// The request's tags from the tagging header: <c>X-Tollgate-Metadata</c> or its alias. One value only; when both
    /// are sent they must agree, because a gateway in front may read the other one.
    /// </summary>
    public Classified<IReadOnlyDictionary<string, string>> ReadTags(string provider, StringValues primary, StringValues alias)
    {
        var (headerName, header, headerError) = MetadataHeader(primary, alias);
        var tagResult = headerError is null
            ? RequestTags.Parse(header, headerName, identityTags, requiredTags)
            : TagParseResult.Invalid(headerError, []);
        if (tagResult.Tags is not null)
        {
            return new Classified<IReadOnlyDictionary<string, string>>(tagResult.Tags, null);
        }

        return new Refusal(400, provider, tagResult.MissingKeys.Count > 0 ? "missing_metadata" : "invalid_metadata", tagResult.Error!,
            json =>
            {
                if (tagResult.MissingKeys.Count > 0)
                {
                    json.WriteStartArray("missing");
                    foreach (var key in tagResult.MissingKeys)
                    {
                        json.WriteStringValue(key);
                    }

                    json.WriteEndArray();
                }
            });
    }

    /// <summary>Reads the body once for its model, stream flag and output cap; a body with more than one reading is refused.</summary>
    public static Classified<RequestShape> ReadShape(ReadOnlySpan<byte> body, ApiDialect dialect)
    {
        RequestShape shape;
        try
        {
            shape = RequestShape.Read(body);
        }
        catch (RequestBodyException ex)
        {
            return new Refusal(400, Providers.Of(dialect), "invalid_request", ex.Message);
        }

        if (ModelName.Validate(shape.Model) is { } modelError)
        {
            return new Refusal(400, Providers.Of(dialect), "invalid_request", modelError);
        }

        return shape;
    }

    private static (string Name, string? Value, string? Error) MetadataHeader(StringValues primary, StringValues alias)
    {
        if (primary.Count > 1 || alias.Count > 1)
        {
            return (RequestTags.HeaderName, null, $"Send the {(primary.Count > 1 ? RequestTags.HeaderName : RequestTags.AliasHeaderName)} header once; it was sent {Math.Max(primary.Count, alias.Count)} times.");
        }

        if (primary.Count == 1 && alias.Count == 1 && !string.Equals(primary[0], alias[0], StringComparison.Ordinal))
        {
            return (RequestTags.HeaderName, null, $"The {RequestTags.HeaderName} and {RequestTags.AliasHeaderName} headers disagree; send one of them.");
        }

        return primary.Count == 1 ? (RequestTags.HeaderName, primary[0], null)
            : alias.Count == 1 ? (RequestTags.AliasHeaderName, alias[0], null)
            : (RequestTags.HeaderName, null, null);
    }
}

/// <summary>The canonical path (what is classified and what the provider receives) and what it is.</summary>
public sealed record ClassifiedPath(string Path, EndpointDecision Endpoint);
