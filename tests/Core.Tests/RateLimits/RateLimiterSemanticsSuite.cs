using Tollgate.Core.RateLimits;

namespace Tollgate.Core.Tests.RateLimits;

/// <summary>The sliding-minute semantics every limiter must honour; each store gets a subclass.</summary>
public abstract class RateLimiterSemanticsSuite
{
    // 10 s into a minute; a store that keeps a clock of its own stands it here too.
    protected static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 10, TimeSpan.Zero);

    protected abstract Task<IRateLimiter> CreateLimiterAsync();

    private static string Key() => $"rule-{Guid.NewGuid():N}";

    [Fact]
    public async Task Requests_beyond_the_per_minute_limit_are_turned_away_with_the_rule_and_retry_after()
    {
        var limiter = await CreateLimiterAsync();
        RateLimitCharge[] rule = [new(Key(), RequestsPerMinute: 3, TokensPerMinute: null)];
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await limiter.AcquireAsync(rule, T0, CancellationToken.None)).IsAllowed);
        }

        var blocked = await limiter.AcquireAsync(rule, T0, CancellationToken.None);

        Assert.Equal(0, blocked.BlockingIndex);
        Assert.Equal(RateLimitKind.Requests, blocked.Kind);
        Assert.Equal(3, blocked.Limit);

        // The current minute alone is full: 50 s to its end, then it must decay to 2 of 3 (a third of a minute).
        Assert.Equal(TimeSpan.FromSeconds(70), blocked.RetryAfter);
    }

    [Fact]
    public async Task The_previous_minute_weighs_in_proportion_to_its_overlap()
    {
        var limiter = await CreateLimiterAsync();
        RateLimitCharge[] rule = [new(Key(), RequestsPerMinute: 4, TokensPerMinute: null)];
        for (var i = 0; i < 4; i++)
        {
            Assert.True((await limiter.AcquireAsync(rule, T0, CancellationToken.None)).IsAllowed);
        }

        // 15 s into the next minute, 3/4 of the previous minute's 4 requests still count: 3 + 1 fits, the next does not.
        var next = T0.AddSeconds(65);
        Assert.True((await limiter.AcquireAsync(rule, next, CancellationToken.None)).IsAllowed);
        var blocked = await limiter.AcquireAsync(rule, next, CancellationToken.None);
        Assert.False(blocked.IsAllowed);

        // At 45 s, 1/4 of 4 = 1 plus the 1 taken: 2 + 1 fits again.
        Assert.True((await limiter.AcquireAsync(rule, T0.AddSeconds(95), CancellationToken.None)).IsAllowed);
    }

    [Fact]
    public async Task Tokens_block_once_the_window_holds_the_limit_and_free_up_as_it_slides()
    {
        var limiter = await CreateLimiterAsync();
        RateLimitCharge[] rule = [new(Key(), RequestsPerMinute: null, TokensPerMinute: 1000)];
        Assert.True((await limiter.AcquireAsync(rule, T0, CancellationToken.None)).IsAllowed);
        await limiter.RecordTokensAsync(rule, 999, T0, CancellationToken.None);
        Assert.True((await limiter.AcquireAsync(rule, T0, CancellationToken.None)).IsAllowed);
        await limiter.RecordTokensAsync(rule, 1, T0, CancellationToken.None);

        var blocked = await limiter.AcquireAsync(rule, T0, CancellationToken.None);
        Assert.Equal(RateLimitKind.Tokens, blocked.Kind);
        Assert.Equal(1000, blocked.Limit);

        // Two minutes later the window is empty.
        Assert.True((await limiter.AcquireAsync(rule, T0.AddMinutes(2), CancellationToken.None)).IsAllowed);
    }

    [Fact]
    public async Task A_blocked_request_counts_against_no_rule()
    {
        var limiter = await CreateLimiterAsync();
        var roomy = new RateLimitCharge(Key(), RequestsPerMinute: 100, TokensPerMinute: null);
        var tight = new RateLimitCharge(Key(), RequestsPerMinute: 1, TokensPerMinute: null);
        Assert.True((await limiter.AcquireAsync([roomy, tight], T0, CancellationToken.None)).IsAllowed);

        var blocked = await limiter.AcquireAsync([roomy, tight], T0, CancellationToken.None);
        Assert.Equal(1, blocked.BlockingIndex);

        // roomy saw 1 request, not 2: 99 more fit.
        for (var i = 0; i < 99; i++)
        {
            Assert.True((await limiter.AcquireAsync([roomy], T0, CancellationToken.None)).IsAllowed);
        }

        Assert.False((await limiter.AcquireAsync([roomy], T0, CancellationToken.None)).IsAllowed);
    }

    [Fact]
    public async Task Concurrent_requests_never_exceed_the_limit()
    {
        var limiter = await CreateLimiterAsync();
        RateLimitCharge[] rule = [new(Key(), RequestsPerMinute: 50, TokensPerMinute: null)];

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => limiter.AcquireAsync(rule, T0, CancellationToken.None).AsTask()));

        Assert.Equal(50, results.Count(r => r.IsAllowed));
    }
}

public sealed class InProcessRateLimiterSemanticsTests : RateLimiterSemanticsSuite
{
    protected override Task<IRateLimiter> CreateLimiterAsync() => Task.FromResult<IRateLimiter>(new InProcessRateLimiter());
}
