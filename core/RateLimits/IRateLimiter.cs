namespace Tollgate.Core.RateLimits;

/// <summary>Counts requests and tokens per rule in sliding minutes (<see cref="SlidingWindow"/>), shared by every meter using the same store.</summary>
public interface IRateLimiter
{
    /// <summary>Checks every charge and, when all have room, counts the request against each, atomically.</summary>
    /// <exception cref="Ledger.LedgerUnavailableException">The store cannot be reached (the meter then allows: limits pace, budgets protect money).</exception>
    ValueTask<RateLimitResult> AcquireAsync(IReadOnlyList<RateLimitCharge> charges, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Adds a finished request's billed tokens to the token windows of the charges that limit tokens.</summary>
    /// <exception cref="Ledger.LedgerUnavailableException">The store cannot be reached; the tokens are not counted (windows are ephemeral).</exception>
    ValueTask RecordTokensAsync(IReadOnlyList<RateLimitCharge> charges, long tokens, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>The limiter's answer.</summary>
/// <param name="BlockingIndex">The charge at its limit, or -1.</param>
/// <param name="Kind">Which of its limits.</param>
/// <param name="Limit">That limit.</param>
/// <param name="RetryAfter">When the window has room again.</param>
public sealed record RateLimitResult(int BlockingIndex, RateLimitKind Kind, long Limit, TimeSpan RetryAfter)
{
    public static RateLimitResult Allowed { get; } = new(-1, RateLimitKind.Requests, 0, TimeSpan.Zero);

    public bool IsAllowed => BlockingIndex < 0;
}
