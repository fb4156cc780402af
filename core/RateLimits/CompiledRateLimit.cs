using Tollgate.Core.Policy;

namespace Tollgate.Core.RateLimits;

/// <summary>
/// The <c>limits</c> of one AiRoutingRule, shared by every request the rule matches across every meter. A request
/// counts against the limits of every matching rule and is turned away when any of them is at its limit.
/// </summary>
/// <param name="Name">The rule's identity, <c>namespace/name</c> (or just the name outside a namespace): the counter key.</param>
/// <param name="Match">Which requests the rule covers.</param>
/// <param name="RequestsPerMinute">Requests per sliding minute, or null.</param>
/// <param name="TokensPerMinute">Billed tokens per sliding minute, or null.</param>
public sealed record CompiledRateLimit(string Name, RequestMatcher Match, long? RequestsPerMinute, long? TokensPerMinute)
{
    public RateLimitCharge Charge => new(Name, RequestsPerMinute, TokensPerMinute);
}

/// <summary>One rule's limits as the limiter sees them.</summary>
public sealed record RateLimitCharge(string Key, long? RequestsPerMinute, long? TokensPerMinute);
