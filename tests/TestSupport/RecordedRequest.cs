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
}
