using System.Text.Json;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// A stage's answer when the request goes no further: the status and the error the client gets, in the shape of
/// <see cref="Provider"/>'s own errors so its SDK prints the message.
/// </summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Provider">Whose error shape to use.</param>
/// <param name="Type">The error type (invalid_request, missing_metadata, …).</param>
/// <param name="Message">What went wrong and what to do, for a person reading a CI log.</param>
/// <param name="Details">Extra fields of the error object, or null.</param>
public sealed record Refusal(int Status, string Provider, string Type, string Message, Action<Utf8JsonWriter>? Details = null)
{
    /// <summary>Response headers that tell an SDK whether and when to retry (<c>Retry-After</c>, <c>x-should-retry</c>) and what refused it.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];
}

/// <summary>
/// A stage's typed result: a value to go on with, or the refusal that ends the request (which may come with the value
/// it refused, for the log).
/// </summary>
public readonly record struct Classified<T>(T? Value, Refusal? Refusal)
    where T : class
{
    public static implicit operator Classified<T>(T value) => new(value, null);

    public static implicit operator Classified<T>(Refusal refusal) => new(null, refusal);
}
