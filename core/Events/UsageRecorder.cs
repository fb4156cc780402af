using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Events;

/// <summary>
/// Commits a request's usage: settles its charges in the ledger, then appends its event to the usage sink. What cannot
/// be committed now (the ledger or the sink is down) goes to the <see cref="UsageSpool"/> and is replayed in order by
/// <see cref="ReplayAsync"/>; both sides are idempotent by request id, so a record applied twice counts once.
/// A record whose amounts the ledger refuses (<see cref="LedgerAmountException"/>) is neither spooled nor retried: it
/// would be refused forever and hold up every record behind it. Its reservation, if any, stays charged at the estimate.
/// </summary>
public sealed class UsageRecorder(IBudgetLedger ledger, IUsageSink sink, UsageSpool spool, ILogger? logger = null) : IDisposable
{
    private const int ReplayBatch = 256;
    private readonly SemaphoreSlim _replayGate = new(1, 1);
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private long _spooled;
    private long _replayed;
    private long _refused;

    public UsageSpool Spool => spool;

    /// <summary>Records spooled since start.</summary>
    public long Spooled => Interlocked.Read(ref _spooled);

    /// <summary>Spooled records replayed since start.</summary>
    public long Replayed => Interlocked.Read(ref _replayed);

    /// <summary>Records whose amounts the ledger refused since start (their usage events were still published).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Commits the record, or spools it. Returns false when it was spooled.</summary>
    /// <remarks>While older records wait in the spool, new ones queue behind them, so the stream keeps request order.</remarks>
    public async ValueTask<bool> RecordAsync(UsageRecord record, CancellationToken cancellationToken)
    {
        if (spool.Count == 0)
        {
            try
            {
                await ApplyAsync(record, cancellationToken);
                return true;
            }
            catch (LedgerUnavailableException)
            {
                // Falls through to the spool; the replayer retries once the ledger is back.
            }
            catch (LedgerAmountException ex)
            {
                Refuse(record, ex);
                return true;
            }
        }

        spool.Append(record);
        Interlocked.Increment(ref _spooled);
        return false;
    }

    /// <summary>Applies spooled records in order until the spool is empty or the ledger fails again.</summary>
    /// <returns>How many records were applied.</returns>
    /// <exception cref="LedgerUnavailableException">The ledger or sink failed; what was applied before is removed from the spool.</exception>
    public async Task<int> ReplayAsync(CancellationToken cancellationToken)
    {
        await _replayGate.WaitAsync(cancellationToken);
        try
        {
            var total = 0;
            while (true)
            {
                var batch = spool.Peek(ReplayBatch);
                if (batch.Count == 0)
                {
                    return total;
                }

                var applied = 0;
                try
                {
                    foreach (var record in batch)
                    {
                        if (record.RequestId.Length > 0)
                        {
                            try
                            {
                                await ApplyAsync(record, cancellationToken);
                            }
                            catch (LedgerAmountException ex)
                            {
                                // A spool written before amounts were checked (or edited by hand) must not wedge the replay.
                                Refuse(record, ex);
                            }
                        }

                        applied++;
                    }
                }
                finally
                {
                    spool.RemoveFirst(applied);
                    total += applied;
                    Interlocked.Add(ref _replayed, applied);
                }
            }
        }
        finally
        {
            _replayGate.Release();
        }
    }

    public void Dispose() => _replayGate.Dispose();

    // Async so that a ledger throwing before it returns (the embedded one refuses synchronously) still lets the append run.
    private async Task SettleAsync(UsageRecord record, CancellationToken cancellationToken) =>
        await ledger.SettleAsync(record.RequestId, record.Charges, record.Amounts, cancellationToken);

    private void Refuse(UsageRecord record, LedgerAmountException ex)
    {
        Interlocked.Increment(ref _refused);
        UsageRecorderLog.AmountRefused(_logger, record.RequestId, ex.Budget, ex.What, ex.Amount);
    }

    private async ValueTask ApplyAsync(UsageRecord record, CancellationToken cancellationToken)
    {
        // Both at once: on Redis they leave in one write and cost one round trip. Each side is idempotent by request
        // id, so when one fails the whole record is spooled and replaying the side that succeeded changes nothing.
        var settle = record.Charges.Count > 0 ? SettleAsync(record, cancellationToken) : Task.CompletedTask;
        var append = record.Event is not null ? sink.AppendAsync(record.Event, cancellationToken).AsTask() : Task.CompletedTask;
        try
        {
            await settle;
        }
        finally
        {
            // Observed even when the settle failed, so its exception is never left unobserved.
            await append;
        }
    }
}
