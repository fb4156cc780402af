using StackExchange.Redis;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;

namespace Tollgate.Core.Events;

/// <summary>
/// Commits a batch of usage records to the Redis ledger and the usage stream of one <see cref="RedisConnection"/> in one script: every settlement and every
/// event append of the batch is one command, one round trip and, over TLS, one record each way. Each record is applied
/// exactly as <see cref="RedisLedger.SettleAsync"/> and <see cref="RedisUsageStream.AppendAsync"/> would apply it (the
/// same Lua), so idempotency by request id holds per record and a batch replayed after a failure halfway counts once.
/// </summary>
public sealed class RedisUsageWriter : IUsageWriter
{
    // KEYS: leases, index, stream, then per record: reservation, settled marker, usage marker, then its n counters.
    // ARGV: settled retention (ms), oldest stream id kept (ms), usage marker TTL (ms), then per record: request id, n
    // (charges to settle; 0 settles nothing), the event's request id and JSON ('' appends nothing), then per charge the
    // six values settle() takes. Returns how many events were appended (a replayed one is not).
    private static readonly RedisScript Commit = new(RedisLedgerScripts.Helpers + """
        local k = 4
        local a = 4
        local appended = 0
        while a <= #ARGV do
          local n = tonumber(ARGV[a + 1])
          if n > 0 then
            settle(KEYS[1], KEYS[k], KEYS[k + 1], KEYS[2], ARGV[a], ARGV[1], k + 3, n, a + 3)
          end
          if ARGV[a + 3] ~= '' and redis.call('SET', KEYS[k + 2], '1', 'NX', 'PX', ARGV[3]) then
            redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[2], '*', 'id', ARGV[a + 2], 'event', ARGV[a + 3])
            appended = appended + 1
          end
          k = k + 3 + n
          a = a + 4 + 6 * n
        end
        return appended
        """);

    private readonly RedisConnection _connection;
    private readonly RedisLedgerLayout _ledger;
    private readonly RedisUsageStream _stream;
    private readonly TimeProvider _time;

    /// <param name="connection">The connection the ledger is on; the records settle in the ledger under its key prefix.</param>
    /// <param name="stream">The usage stream the events go to.</param>
    /// <param name="time">The ledger's clock, which counter TTLs are relative to (as <see cref="RedisLedger"/>'s settle).</param>
    /// <exception cref="ArgumentException">The stream is on another connection.</exception>
    public RedisUsageWriter(RedisConnection connection, RedisUsageStream stream, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(time);
        if (stream.Connection != connection)
        {
            // One script touches both, so both must be on one server and under one prefix (one slot).
            throw new ArgumentException($"the usage stream under '{stream.KeyPrefix}' is on another Redis connection than the ledger under '{connection.Options.KeyPrefix}'", nameof(stream));
        }

        _connection = connection;
        _ledger = new RedisLedgerLayout(connection.Options);
        _stream = stream;
        _time = time;
    }

    public async ValueTask WriteAsync(IReadOnlyList<UsageRecord> records, Action<UsageRecord, LedgerAmountException> refused, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(refused);
        var now = _time.GetUtcNow();
        var keys = new List<RedisKey>(3 + (4 * records.Count)) { _ledger.LeasesKey, _ledger.IndexKey, _stream.Key };
        var values = new List<RedisValue>(3 + (10 * records.Count)) { _ledger.SettledRetentionMs, _stream.OldestKeptMs, _stream.DedupeWindowMs };
        foreach (var record in records)
        {
            var n = record.Charges.Count;
            var counters = n > 0 ? new RedisKey[n] : [];
            var charges = n > 0 ? new RedisValue[6 * n] : [];
            if (n > 0)
            {
                if (record.Amounts.Count != n)
                {
                    throw new ArgumentException($"record {record.RequestId}: expected {n} amounts, got {record.Amounts.Count}", nameof(records));
                }

                try
                {
                    _ledger.AddSettleArguments(record.Charges, record.Amounts, now, counters, charges);
                }
                catch (LedgerAmountException ex)
                {
                    refused(record, ex);
                    n = 0;
                }
            }

            if (n == 0 && record.Event is null)
            {
                continue;
            }

            keys.Add(_ledger.ReservationKey(record.RequestId));
            keys.Add(_ledger.SettledKey(record.RequestId));
            keys.Add(_stream.MarkerKey(record.Event?.RequestId ?? record.RequestId));
            values.Add(record.RequestId);
            values.Add(n);
            values.Add(record.Event?.RequestId ?? string.Empty);
            values.Add(record.Event is null ? RedisValue.EmptyString : UsageEventJson.Serialize(record.Event));
            if (n > 0)
            {
                keys.AddRange(counters);
                values.AddRange(charges);
            }
        }

        if (values.Count > 3)
        {
            await _connection.Scripts.EvaluateAsync(Commit, [.. keys], [.. values], cancellationToken);
        }
    }
}
