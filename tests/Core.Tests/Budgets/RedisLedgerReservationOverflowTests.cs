using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Budgets;

/// <summary>
/// The overflow suite against the Redis ledger on a real redis-server, each ledger under its own key prefix. Redis
/// outlives a meter, so "the process died" is the dead meter's lease running out and being reclaimed by a new ledger.
/// </summary>
public sealed class RedisLedgerReservationOverflowTests(RedisServerFixture redis) : ReservationOverflowSuite, IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(10);

    protected override async Task<IBudgetLedger> CreateLedgerAsync(FakeTimeProvider time) => await ConnectAsync($"tollgate:{{overflow-{Guid.NewGuid():N}}}:", time);

    protected override async Task<IBudgetLedger> AfterCrashAsync(IBudgetLedger crashed, FakeTimeProvider time)
    {
        var prefix = ((OwnedRedisLedger)crashed).Options.KeyPrefix;
        await crashed.DisposeAsync();
        time.Advance(Lease + TimeSpan.FromSeconds(1));
        var successor = await ConnectAsync(prefix, time);
        Assert.Equal(1, await successor.ReclaimExpiredAsync(time.GetUtcNow(), CancellationToken.None));
        return successor;
    }

    private async Task<OwnedRedisLedger> ConnectAsync(string prefix, TimeProvider time) =>
        await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with
            {
                KeyPrefix = prefix,
                LeaseDuration = Lease,

                // No background reclaim during a test (the clock never gets this far); the crash test reclaims by hand.
                ReclaimInterval = TimeSpan.FromDays(20),
                OperationTimeout = TimeSpan.FromSeconds(5),
            },
            time,
            CancellationToken.None);
}
