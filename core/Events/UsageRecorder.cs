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
/// <remarks>
/// Records of concurrent requests are committed together (group commit): while one write is in flight, the records
/// that arrive queue up and go in the next write, at most <see cref="MaxBatch"/> at a time. An idle recorder writes a
/// record at once, so a lone request waits for one write as before; under load the number of writes (on Redis: script
/// calls, round trips and TLS records) grows with the number of batches instead of the number of requests. Every
/// caller still waits until its own record is committed or spooled, so "recorded when the call returned" holds.
/// </remarks>
public sealed class UsageRecorder : IDisposable
{
    /// <summary>Most records per write: bounds a script's run time on Redis (which runs one script at a time) and its size.</summary>
    public const int MaxBatch = 64;

    private readonly IUsageWriter _writer;
    private readonly UsageSpool _spool;
    private readonly SemaphoreSlim _replayGate = new(1, 1);
    private readonly ILogger _logger;
    private readonly Lock _queueGate = new();
    private readonly Queue<Pending> _queue = new();
    private readonly Action<UsageRecord, LedgerAmountException> _refuse;
    private bool _writing;
    private long _spooled;
    private long _replayed;
    private long _refused;
    private long _writes;

    /// <summary>A recorder that settles in <paramref name="ledger"/> and appends to <paramref name="sink"/> record by record.</summary>
    public UsageRecorder(IBudgetLedger ledger, IUsageSink sink, UsageSpool spool, ILogger? logger = null)
        : this(new SeparateUsageWriter(ledger, sink), spool, logger)
    {
    }

    public UsageRecorder(IUsageWriter writer, UsageSpool spool, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(spool);
        _writer = writer;
        _spool = spool;
        _logger = logger ?? NullLogger.Instance;
        _refuse = Refuse;
    }

    public UsageSpool Spool => _spool;

    /// <summary>Records spooled since start.</summary>
    public long Spooled => Interlocked.Read(ref _spooled);

    /// <summary>Spooled records replayed since start.</summary>
    public long Replayed => Interlocked.Read(ref _replayed);

    /// <summary>Records whose amounts the ledger refused since start (their usage events were still published).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Writes of live records to the ledger since start, each carrying one to <see cref="MaxBatch"/> records.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Commits the record, or spools it. Returns false when it was spooled.</summary>
    /// <remarks>
    /// While older records wait in the spool, new ones queue behind them, so the stream keeps request order. Once queued
    /// for a write the record is committed or spooled whatever <paramref name="cancellationToken"/> does: this is the commit step.
    /// </remarks>
    /// <exception cref="IOException">The record had to be spooled and the spool could not be written.</exception>
    public async ValueTask<bool> RecordAsync(UsageRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        cancellationToken.ThrowIfCancellationRequested();
        if (_spool.Count > 0)
        {
            SpoolOne(record);
            return false;
        }

        var pending = new Pending(record);
        bool start;
        lock (_queueGate)
        {
            _queue.Enqueue(pending);
            start = !_writing;
            _writing = true;
        }

        if (start)
        {
            // Runs inline up to the write's first await, then on the write's completions; it never throws.
            _ = WriteQueuedAsync();
        }

        return await pending.Committed.Task;
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
                var batch = _spool.Peek(MaxBatch);
                if (batch.Count == 0)
                {
                    return total;
                }

                // A record without an id (a spool edited by hand) cannot be applied idempotently: it is dropped.
                var applicable = batch.Where(record => record.RequestId.Length > 0).ToList();
                if (applicable.Count > 0)
                {
                    await _writer.WriteAsync(applicable, _refuse, cancellationToken);
                }

                _spool.RemoveFirst(batch.Count);
                total += batch.Count;
                Interlocked.Add(ref _replayed, batch.Count);
            }
        }
        finally
        {
            _replayGate.Release();
        }
    }

    public void Dispose() => _replayGate.Dispose();

    private async Task WriteQueuedAsync()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_queueGate)
            {
                if (_queue.Count == 0)
                {
                    _writing = false;
                    return;
                }

                batch = new List<Pending>(Math.Min(_queue.Count, MaxBatch));
                while (batch.Count < MaxBatch && _queue.TryDequeue(out var next))
                {
                    batch.Add(next);
                }
            }

            await WriteBatchAsync(batch);
        }
    }

    private async Task WriteBatchAsync(List<Pending> batch)
    {
        // A batch queued while an earlier one failed goes behind it in the spool, not ahead of it in the stream.
        if (_spool.Count == 0)
        {
            try
            {
                Interlocked.Increment(ref _writes);
                await _writer.WriteAsync([.. batch.Select(p => p.Record)], _refuse, CancellationToken.None);
                foreach (var pending in batch)
                {
                    pending.Committed.TrySetResult(true);
                }

                return;
            }
            catch (LedgerUnavailableException)
            {
                // Falls through to the spool, the whole batch in order; the replayer retries once the ledger is back.
            }
            catch (Exception) when (batch.Count > 1)
            {
                // Something no record should cause (a bug, a malformed record): each alone, so one cannot sink the others.
                foreach (var pending in batch)
                {
                    await WriteBatchAsync([pending]);
                }

                return;
            }
            catch (Exception ex)
            {
                batch[0].Committed.TrySetException(ex);
                return;
            }
        }

        foreach (var pending in batch)
        {
            try
            {
                SpoolOne(pending.Record);
                pending.Committed.TrySetResult(false);
            }
            catch (Exception ex)
            {
                pending.Committed.TrySetException(ex);
            }
        }
    }

    private void SpoolOne(UsageRecord record)
    {
        _spool.Append(record);
        Interlocked.Increment(ref _spooled);
    }

    private void Refuse(UsageRecord record, LedgerAmountException ex)
    {
        Interlocked.Increment(ref _refused);
        UsageRecorderLog.AmountRefused(_logger, record.RequestId, ex.Budget, ex.What, ex.Amount);
    }

    /// <summary>A record waiting for its write; completed asynchronously so that one write does not run every waiter's continuation inline.</summary>
    private sealed class Pending(UsageRecord record)
    {
        public UsageRecord Record { get; } = record;

        public TaskCompletionSource<bool> Committed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
