namespace Tollgate.Core.RateLimits;

/// <summary>A routing rule's limits as the limiter sees them, shared by every request the rule applies to across every meter.</summary>
/// <param name="Key">The rule's identity, <c>namespace/name</c>: the counter key.</param>
/// <param name="RequestsPerMinute">Requests per sliding minute, or null.</param>
/// <param name="TokensPerMinute">Billed tokens per sliding minute, or null.</param>
public sealed record RateLimitCharge(string Key, long? RequestsPerMinute, long? TokensPerMinute);
