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
internal sealed class UsageStreamConsumer(
    RedisUsageStream stream, AggregateHolder holder, SeriesIntroductions introductions, LabelLimits labels, ExporterOptions options, TimeProvider time,
    ILogger<UsageStreamConsumer> logger)
    : BackgroundService
{
    public const string Group = "tollgate-exporter";
    private const int BatchSize = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = false;
        var pending = true;
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
                    await Task.Delay(options.PollInterval, time, stoppingToken);
                    continue;
                }

                await ApplyAsync(entries, stoppingToken);
            }
            catch (LedgerUnavailableException ex)
            {
                holder.Ready = false;
                Log.StreamUnavailable(logger, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
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

            introductions.Restored(restored);
            holder.Replace(restored);
            Log.StateLoaded(logger, holder.Current.Events, holder.Current.LastEntryId);
        }
    }

    private async Task ApplyAsync(IReadOnlyList<UsageStreamEntry> entries, CancellationToken cancellationToken)
    {
        var next = holder.Current.Copy();
        var applied = 0;
        foreach (var entry in entries)
        {
            if (RedisUsageStream.CompareIds(entry.Id, next.LastEntryId) <= 0)
            {
                // Counted before a crash, never acknowledged: delivered again, counted once.
                holder.Duplicates++;
                continue;
            }

            if (entry.Event is not null)
            {
                next.Apply(entry.Event, labels);
                applied++;
            }

            next.LastEntryId = entry.Id;
        }

        next.Prune(time.GetUtcNow(), keep: 40);
        if (applied > 0 || next.LastEntryId != holder.Current.LastEntryId)
        {
            // State first, acknowledgement second: a crash in between redelivers entries the saved state already has.
            await stream.SaveStateAsync(options.StateName, next.ToJson(), cancellationToken);
            holder.Replace(next);
        }

        await stream.AcknowledgeAsync(Group, [.. entries.Select(e => e.Id)], cancellationToken);
    }
}

/// <summary>The current aggregate, swapped whole after each batch so scrapes never see half a batch.</summary>
internal sealed class AggregateHolder
{
    private UsageAggregate _current = new();

    public UsageAggregate Current => Volatile.Read(ref _current);

    /// <summary>True once the consumer has caught up with its own pending entries.</summary>
    public bool Ready { get; set; }

    public long Duplicates { get; set; }

    public void Replace(UsageAggregate next) => Volatile.Write(ref _current, next);
}
