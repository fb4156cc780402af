using Tollgate.Core.Ledger.Redis;

namespace Tollgate.Core.Tests.Architecture;

/// <summary>
/// One type opens Redis connections: the ledger, and everything on its connection (usage stream, rate limiter, writer),
/// so a process holds one multiplexer, configured once (address, credentials, TLS, fail-fast, least-privilege options).
/// </summary>
public sealed class RedisConnectionOwnerTests
{
    private static readonly HashSet<string> Connects = ["Connect", "ConnectAsync", "SentinelConnect", "SentinelConnectAsync"];

    [Fact]
    public void Only_the_redis_ledger_opens_a_redis_connection_in_core()
    {
        var callers = CallSites.Callers(typeof(RedisLedger).Assembly.Location, "StackExchange.Redis.ConnectionMultiplexer", Connects);

        Assert.Equal([typeof(RedisLedger).FullName!], callers);
    }

    [Fact]
    public void A_call_inside_a_lambda_or_async_method_counts_for_its_declaring_type()
    {
        var callers = CallSites.Callers(typeof(RedisConnectionOwnerTests).Assembly.Location, "StackExchange.Redis.ConnectionMultiplexer", Connects);

        // This assembly's tests open their own inspector connections inside async methods; the reader must see them.
        Assert.Contains(typeof(Events.RedisUsageStreamTests).FullName!, callers);
        Assert.DoesNotContain(typeof(RedisConnectionOwnerTests).FullName!, callers);
    }
}
