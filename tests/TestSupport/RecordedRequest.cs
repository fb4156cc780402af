namespace Tollgate.TestSupport;

/// <summary>One request as the fake upstream received it (after the proxy rewrote it).</summary>
/// <param name="Path">The path alone, so assertions stay stable when a client appends a query such as <c>?beta=true</c>.</param>
public sealed record RecordedRequest(
    string Method,
    string Path,
    IReadOnlyDictionary<string, string> Headers,
    string Body,
    DateTimeOffset ReceivedAt)
{
    /// <summary>The query string including its leading <c>?</c>, or empty.</summary>
    public string Query { get; init; } = "";

    /// <summary>The authority the request named: <c>Host</c> on HTTP/1.1, <c>:authority</c> on HTTP/2.</summary>
    public string Host { get; init; } = "";

    /// <summary>The protocol it arrived on, for example <c>HTTP/1.1</c> or <c>HTTP/2</c>.</summary>
    public string Protocol { get; init; } = "";

    /// <summary>The server name the client sent in the TLS handshake (SNI); null over plain HTTP or without SNI.</summary>
    public string? TlsServerName { get; init; }

    /// <summary>The key in the provider's form that arrived (<c>x-api-key</c>, or the token of <c>Authorization: Bearer</c>); null when none.</summary>
    public string? ApiKey { get; init; }
}
