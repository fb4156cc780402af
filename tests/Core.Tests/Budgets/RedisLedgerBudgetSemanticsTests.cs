using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Budgets;

/// <summary>The shared budget semantics against the Redis ledger, on a real redis-server; each ledger gets its own key prefix.</summary>
public sealed class RedisLedgerBudgetSemanticsTests(RedisServerFixture redis) : BudgetSemanticsSuite, IClassFixture<RedisServerFixture>
{
    protected override async Task<IBudgetLedger> CreateLedgerAsync(TimeProvider time) =>
        await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with
            {
                KeyPrefix = $"tollgate:{{semantics-{Guid.NewGuid():N}}}:",

                // The 1 s default is for production; a loaded CI machine can delay the client's completions longer.
                OperationTimeout = TimeSpan.FromSeconds(5),
            },
            time,
            CancellationToken.None);
}
