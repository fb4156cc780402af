using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Routing;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// The admit stage's one answer for a metered request: <see cref="Admitted{TCandidate}"/> (send it),
/// <see cref="AdmitRefused"/> (answer with a <see cref="Refusal"/>), <see cref="CacheHit"/> (answer from the cache) or
/// <see cref="FixedResponseFallback"/> (answer with the routing rule's text). Closed: nothing outside core derives from it.
/// </summary>
public abstract record AdmitResult
{
    private protected AdmitResult(MeteredRequest request) => Request = request;

    /// <summary>The request as admission leaves it (the model it asked for; the model sent is in the routing decision).</summary>
    public MeteredRequest Request { get; }

    /// <summary>hit or miss when the routing rule caches, else null; a miss is counted even when a later check refuses.</summary>
    public string? CacheLookup { get; init; }

    /// <summary>Why the rule's rate limit was not enforced (its shared counters could not be reached), for the log; null when it was.</summary>
    public string? RateLimiterUnavailable { get; init; }
}

/// <summary>The request goes upstream: everything forward, account and settle need.</summary>
/// <typeparam name="TCandidate">The caller's concrete routing target (where to send, with which key).</typeparam>
/// <param name="Request">The request.</param>
/// <param name="Billable">False for calls the provider never bills (token counting): nothing is reserved or charged.</param>
/// <param name="Route">The routing rule that applies, or null.</param>
/// <param name="Candidates">The rule's targets this request can use, in order; empty without a rule or when none resolved.</param>
/// <param name="Verdict">What the budgets decided, null when none was asked (not billable).</param>
/// <param name="CacheKey">Where to store the response when the rule caches, else null.</param>
/// <param name="RateLimits">The rule's rate-limit charges, to which the request's tokens are added once known.</param>
/// <param name="StripInjectedUsage">Whether the meter asked for a usage chunk the client did not, which must not reach it.</param>
/// <param name="Body">The body to send (the client's, or with <c>stream_options.include_usage</c> added).</param>
/// <param name="InputEstimate">The input estimate, computed at most once and only when needed.</param>
/// <param name="OutputEstimate">The output reserved.</param>
public sealed record Admitted<TCandidate>(
    MeteredRequest Request,
    bool Billable,
    CompiledRoute? Route,
    IReadOnlyList<TCandidate> Candidates,
    BudgetVerdict? Verdict,
    ResponseCacheKey? CacheKey,
    IReadOnlyList<RateLimitCharge> RateLimits,
    bool StripInjectedUsage,
    ReadOnlyMemory<byte> Body,
    Func<long> InputEstimate,
    long OutputEstimate) : AdmitResult(Request)
{
    /// <summary>The reservation to settle, or null when no budget was asked.</summary>
    public BudgetAdmission? Admission => Verdict?.Admission;

    /// <summary>The rule's cheaper model, when a budget fallback chose it instead of <see cref="Candidates"/>.</summary>
    public string? FallbackModel => Verdict?.Fallback == Metrics.FallbackKinds.BudgetModel ? Verdict.Model : null;
}

/// <summary>Answered from the response cache: the bytes a first client received, at no cost.</summary>
public sealed record CacheHit(MeteredRequest Request, CompiledRoute Route, CachedResponse Cached) : AdmitResult(Request);

/// <summary>A budget blocked the request and its routing rule answers with a fixed text instead; nothing is sent.</summary>
/// <param name="Request">The request.</param>
/// <param name="Route">The rule whose <c>fallback.onBudgetExceeded.response</c> answers.</param>
/// <param name="Verdict">The budgets' verdict: the admission that blocked, to settle (it reserved nothing).</param>
public sealed record FixedResponseFallback(MeteredRequest Request, CompiledRoute Route, BudgetVerdict Verdict) : AdmitResult(Request)
{
    public string Text => Route.BudgetFallback!.Response!;
}

/// <summary>The request is refused: the client gets <see cref="Refusal"/> and the request is counted under <see cref="Outcome"/>.</summary>
public abstract record AdmitRefused : AdmitResult
{
    private protected AdmitRefused(MeteredRequest request, Refusal refusal, string outcome)
        : base(request)
    {
        Refusal = refusal;
        Outcome = outcome;
    }

    public Refusal Refusal { get; }

    /// <summary>The <see cref="Metrics.RequestOutcomes"/> value: blocked or rejected.</summary>
    public string Outcome { get; }

    /// <summary>The budgets' answer to settle (it reserved nothing), or null when they were not asked.</summary>
    public virtual BudgetAdmission? Admission => null;
}

/// <summary>The routing rule's <c>limits.maxInputTokens</c> is passed: 413.</summary>
public sealed record InputTooLarge(MeteredRequest Request, Refusal Refusal, CompiledRoute Route, long Measured, long Limit)
    : AdmitRefused(Request, Refusal, Metrics.RequestOutcomes.Rejected);

/// <summary>The routing rule's request or token rate is reached: 429, retry later.</summary>
public sealed record RateLimited(MeteredRequest Request, Refusal Refusal, RateLimitCharge Rule, RateLimitResult Limit)
    : AdmitRefused(Request, Refusal, Metrics.RequestOutcomes.Blocked);

/// <summary>A budget refused: spent (429, blocked) or, failing closed, unreachable (503, rejected).</summary>
public sealed record BudgetRefused(MeteredRequest Request, Refusal Refusal, BudgetAdmission BudgetAdmission)
    : AdmitRefused(Request, Refusal, BudgetAdmission.Kind == AdmissionKind.Blocked ? Metrics.RequestOutcomes.Blocked : Metrics.RequestOutcomes.Rejected)
{
    public override BudgetAdmission? Admission => BudgetAdmission;
}
