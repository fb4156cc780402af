using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Redis;
using Tollgate.Core.RateLimits;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.RateLimits;

/// <summary>The sliding-minute semantics against Redis, the store meters share in a cluster.</summary>
public sealed class RedisRateLimiterSemanticsTests(RedisServerFixture redis) : RateLimiterSemanticsSuite, IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    private readonly List<OwnedRedisLedger> _ledgers = [];

    protected override async Task<IRateLimiter> CreateLimiterAsync()
    {
        var ledger = await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with { KeyPrefix = $"tollgate:{{limits-{Guid.NewGuid():N}}}:", OperationTimeout = TimeSpan.FromSeconds(5) },
            new FakeTimeProvider(T0),
            CancellationToken.None);
        _ledgers.Add(ledger);
        return new RedisRateLimiter(ledger.Connection);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var ledger in _ledgers)
        {
            await ledger.DisposeAsync();
        }
    }
}
