namespace Tollgate.Meter.Keys;

/// <summary>A fetch from the key broker failed. <see cref="Outcome"/> is a metric label; the message never holds a token or key.</summary>
internal sealed class KeyBrokerException(string outcome, string message, Exception? inner = null) : Exception(message, inner)
{
    public const string Unauthenticated = "unauthenticated";
    public const string Forbidden = "forbidden";
    public const string Unavailable = "unavailable";
    public const string Unreachable = "unreachable";
    public const string InvalidResponse = "invalid_response";
    public const string TokenUnreadable = "token_unreadable";

    public string Outcome { get; } = outcome;
}
