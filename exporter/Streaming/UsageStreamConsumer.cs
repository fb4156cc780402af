using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Exporter.Aggregation;

namespace Tollgate.Exporter.Streaming;

/// <summary>
/// Reads the usage stream as a consumer group member (at-least-once: an entry stays pending until acknowledged) and
/// folds every event into the <see cref="UsageAggregate"/> exactly once: the aggregate is saved with the id of the last
/// entry it contains before the batch is acknowledged, and an entry at or below that id is skipped when it is delivered
/// again after a crash. On start the saved aggregate is loaded, so counters continue instead of restarting from zero.
/// </summary>
/// <remarks>
/// An entry <see cref="UsageEventReader"/> refuses is acknowledged with its batch, counted in
/// <c>tollgate_usage_events_rejected_total</c>, logged once and copied to the dead-letter stream: one bad entry must
/// never hold the stream. A request id already counted (the meter's replay window, 3 days by append time) counts once:
/// the ids are saved with the totals in one script, so a restart neither forgets nor double counts them. Any other
/// failure is fatal: the host stops and the process exits non-zero, so Kubernetes restarts it and alerts fire.
/// </remarks>
internal sealed class UsageStreamConsumer(
    RedisUsageStream stream, AggregateHolder holder, SeriesIntroductions introductions, LabelLimits labels, ExporterOptions options, TimeProvider time,
    IHostApplicationLifetime lifetime, ILogger<UsageStreamConsumer> logger)
    : BackgroundService
{
    public const string Group = "tollgate-exporter";
    public const string RejectedMetric = "tollgate_usage_events_rejected_total";
    private const int BatchSize = 500;

    /// <summary>Days of daily history kept: the month-to-date of the forecasts plus margin.</summary>
    private const int KeepDays = 40;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await ConsumeAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Totals that silently stop moving are worse than a restart: stop the host and exit non-zero.
            holder.Fatal = ex;
            holder.Ready = false;
            Log.ConsumerFailed(logger, ex);
            lifetime.StopApplication();
        }
    }

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        var started = false;
        var pending = true;
        holder.LastProgress = time.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!started)
                {
                    await ResumeAsync(stoppingToken);
                    started = true;
                }

                var entries = await stream.ReadGroupAsync(Group, options.ConsumerName, pending, BatchSize, stoppingToken);
                if (entries.Count == 0)
                {
                    // Own pending entries recovered: from now on, new ones.
                    pending = false;
                    holder.Ready = true;
                    holder.LastProgress = time.GetUtcNow();
                    await Task.Delay(options.PollInterval, time, stoppingToken);
                    continue;
                }

                await ApplyAsync(entries, stoppingToken);
                holder.LastProgress = time.GetUtcNow();
            }
            catch (LedgerUnavailableException ex)
            {
                holder.Ready = false;
                Log.StreamUnavailable(logger, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
            }
        }
    }

    private async Task ResumeAsync(CancellationToken cancellationToken)
    {
        await stream.EnsureGroupAsync(Group, cancellationToken);
        var saved = await stream.LoadStateAsync(options.StateName, cancellationToken);
        if (saved is not null)
        {
            var (restored, folds) = labels.Restore(UsageAggregate.FromJson(saved));
            foreach (var fold in folds)
            {
                Log.LabelsFoldedOnLoad(logger, fold.Label, fold.Distinct, labels.MaxValues, fold.Folded);
            }

            // Totals saved before events were checked may hold a day in 2099; it goes now, not with the next batch.
            restored.Prune(time.GetUtcNow(), keep: KeepDays);
            introductions.Restored(restored);
            holder.Replace(restored);
            Log.StateLoaded(logger, holder.Current.Events, holder.Current.LastEntryId);
        }
    }

    private async Task ApplyAsync(IReadOnlyList<UsageStreamEntry> entries, CancellationToken cancellationToken)
    {
        var next = holder.Current.Copy();
        var fresh = entries.Where(e => RedisUsageStream.CompareIds(e.Id, next.LastEntryId) > 0).ToList();
        // Counted before a crash, never acknowledged: delivered again, counted once.
        holder.Duplicates += entries.Count - fresh.Count;

        var counted = await stream.CountedAsync(options.StateName, [.. fresh.Where(e => e.Event is not null).Select(e => e.Event!.RequestId).Distinct(StringComparer.Ordinal)], cancellationToken);
        var seen = new HashSet<string>(counted, StringComparer.Ordinal);
        var ids = new List<(long, string)>();
        var refused = new List<UsageStreamEntry>();
        foreach (var entry in fresh)
        {
            if (entry.Event is { } usageEvent)
            {
                if (seen.Add(usageEvent.RequestId))
                {
                    next.Apply(usageEvent, labels);
                    ids.Add((AppendedMs(entry.Id), usageEvent.RequestId));
                }
                else
                {
                    // The same request appended again (a replay past the meter's marker, or a forged copy): counted once.
                    holder.DuplicateRequests++;
                }
            }
            else if (entry.Rejection is { } rejection)
            {
                next.Reject(rejection.Reason);
                refused.Add(entry);
                Log.EventRejected(logger, entry.Id, rejection.Reason, rejection.Detail);
            }

            next.LastEntryId = entry.Id;
        }

        var now = time.GetUtcNow();
        next.Prune(now, keep: KeepDays);
        if (refused.Count > 0)
        {
            // Before the totals are saved: a crash in between copies an entry twice, never loses one.
            await stream.DeadLetterAsync(refused, options.DeadLetterMaxLength, cancellationToken);
        }

        if (next.LastEntryId != holder.Current.LastEntryId)
        {
            // State first, acknowledgement second: a crash in between redelivers entries the saved state already has.
            await stream.SaveStateAsync(options.StateName, next.ToJson(), ids, now - options.RequestIdWindow, options.MaxRequestIds, cancellationToken);
            holder.Replace(next);
        }

        await stream.AcknowledgeAsync(Group, [.. entries.Select(e => e.Id)], cancellationToken);
    }

    private static long AppendedMs(string entryId)
    {
        var dash = entryId.IndexOf('-', StringComparison.Ordinal);
        return long.Parse(dash < 0 ? entryId : entryId[..dash], System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>The current aggregate, swapped whole after each batch so scrapes never see half a batch.</summary>
internal sealed class AggregateHolder
{
    private UsageAggregate _current = new();
    private long _lastProgressTicks;

    public UsageAggregate Current => Volatile.Read(ref _current);

    /// <summary>True once the consumer has caught up with its own pending entries.</summary>
    public bool Ready { get; set; }

    public long Duplicates { get; set; }

    /// <summary>Events skipped because their request id was already counted, since this process started.</summary>
    public long DuplicateRequests { get; set; }

    /// <summary>When the consumer last finished a read (with or without entries); readiness compares it with the backlog.</summary>
    public DateTimeOffset LastProgress
    {
        get => new(Interlocked.Read(ref _lastProgressTicks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _lastProgressTicks, value.UtcTicks);
    }

    /// <summary>The failure that stopped the consumer, if one did; the process then exits non-zero.</summary>
    public Exception? Fatal { get; set; }

    public void Replace(UsageAggregate next) => Volatile.Write(ref _current, next);
}
