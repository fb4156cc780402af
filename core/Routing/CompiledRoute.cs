using Tollgate.Core.Matching;
using Tollgate.Core.Policy;
using Tollgate.Core.RateLimits;

namespace Tollgate.Core.Routing;

/// <summary>
/// An AiRoutingRule ready for the request path. The first rule (by priority, then name) that matches a request applies,
/// all of it: its targets, resilience, limits, cache and fallback.
/// </summary>
/// <param name="Name">The rule's identity, <c>namespace/name</c> (or the name alone outside a namespace).</param>
/// <param name="Match">Which requests it covers.</param>
/// <param name="Targets">Where requests go, tried in order (empty: the meter's default upstream, same model).</param>
/// <param name="Resilience">Retries, circuit breaker and attempt timeout of every target.</param>
/// <param name="MaxInputTokens">Requests estimated above this many input tokens are refused.</param>
/// <param name="RateLimit">Requests and tokens per minute, or null.</param>
/// <param name="CacheTtl">How long responses are cached, or null when the rule does not cache.</param>
/// <param name="BudgetFallback">What to do instead of a 429 when a budget is exhausted, or null.</param>
public sealed record CompiledRoute(
    string Name,
    RequestMatcher Match,
    IReadOnlyList<CompiledTarget> Targets,
    RouteResilience Resilience,
    long? MaxInputTokens,
    RateLimitCharge? RateLimit,
    TimeSpan? CacheTtl,
    BudgetFallbackAction? BudgetFallback);

/// <summary>One place a routed request may go.</summary>
/// <param name="Index">Position in the rule's list (0 = primary).</param>
/// <param name="Provider">anthropic or openai: a target never changes the request's API dialect.</param>
/// <param name="Model">The model written into the request body.</param>
/// <param name="BaseUrl">Another endpoint for the provider, or null for the meter's upstream.</param>
/// <param name="ApiKey">The Secret holding this target's key, or null for the meter's own key.</param>
public sealed record CompiledTarget(int Index, string Provider, string Model, Uri? BaseUrl, SecretKeyReference? ApiKey)
{
    public override string ToString() => $"{Provider}/{Model}";
}

/// <summary>A key in a Secret: mounted in a pod (and in standalone mode read from a folder) as <c>&lt;dir&gt;/&lt;name&gt;/&lt;key&gt;</c>.</summary>
public sealed record SecretKeyReference(string Name, string Key)
{
    public string PathUnder(string directory) => Path.Combine(directory, Name, Key);
}

public enum BackoffKind
{
    Exponential,
    Constant,
}

/// <param name="RetryAttempts">Retries after the first attempt of each target (0 = none).</param>
/// <param name="Backoff">Delay growth between retries (with jitter; a provider's Retry-After wins).</param>
/// <param name="FailureRatio">Share of failed attempts that opens a target's circuit, or null for no breaker.</param>
/// <param name="BreakDuration">How long an open circuit skips its target.</param>
/// <param name="AttemptTimeout">How long one attempt may wait for the response to start.</param>
public sealed record RouteResilience(int RetryAttempts, BackoffKind Backoff, double? FailureRatio, TimeSpan BreakDuration, TimeSpan AttemptTimeout)
{
    public static RouteResilience Default { get; } = new(2, BackoffKind.Exponential, null, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60));
}

/// <summary>A cheaper model to try, or a fixed answer to give, when a budget blocks a request.</summary>
public sealed record BudgetFallbackAction(string? Model, string? Response);
