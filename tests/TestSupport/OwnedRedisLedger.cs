using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;

namespace Tollgate.TestSupport;

/// <summary>
/// A Redis ledger on a connection of its own, as a test opens one beside the process under test: <see cref="Connection"/>
/// serves the test's usage stream and rate limiter too, and disposing stops the ledger, then closes the connection.
/// </summary>
public sealed class OwnedRedisLedger : IBudgetLedger
{
    private OwnedRedisLedger(RedisConnection connection, RedisLedger ledger)
    {
        Connection = connection;
        Ledger = ledger;
    }

    public RedisConnection Connection { get; }

    public RedisLedger Ledger { get; }

    public string Name => Ledger.Name;

    public bool IsReady => Ledger.IsReady;

    /// <summary>Why Redis refused the connection's user, or null.</summary>
    public string? AccessDenied => Connection.AccessDenied;

    public RedisLedgerOptions Options => Connection.Options;

    public static Task<OwnedRedisLedger> ConnectAsync(RedisLedgerOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        ConnectAsync(options, time, NullLogger.Instance, cancellationToken);

    public static async Task<OwnedRedisLedger> ConnectAsync(RedisLedgerOptions options, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var connection = await RedisConnection.ConnectAsync(options, time, logger, cancellationToken);
        return new OwnedRedisLedger(connection, new RedisLedger(connection, time, logger));
    }

    public ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken) =>
        Ledger.ReserveAsync(requestId, charges, cancellationToken);

    public ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken) =>
        Ledger.SettleAsync(requestId, charges, actual, cancellationToken);

    public ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        Ledger.SnapshotAsync(now, cancellationToken);

    public Task<int> ReclaimExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken) => Ledger.ReclaimExpiredAsync(now, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await Ledger.DisposeAsync();
        await Connection.DisposeAsync();
    }
}
