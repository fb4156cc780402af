using Polly;
using Polly.Retry;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;

namespace Tollgate.Meter.Recording;

/// <summary>
/// Drains the usage spool into the ledger and the usage stream once they are reachable again, in order, backing off
/// exponentially (with jitter, up to <see cref="MaxDelay"/>) while they are not.
/// </summary>
internal sealed class SpoolReplayer(UsageRecorder recorder, IBudgetLedger ledger, TimeProvider time, ILogger<SpoolReplayer> logger) : BackgroundService
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<LedgerUnavailableException>(),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(250),
            MaxDelay = MaxDelay,
            MaxRetryAttempts = int.MaxValue,
            OnRetry = args =>
            {
                Log.ReplayDeferred(logger, recorder.Spool.Count, args.RetryDelay.TotalSeconds, args.Outcome.Exception?.Message ?? string.Empty);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                if (recorder.Spool.Count > 0)
                {
                    await _retry.ExecuteAsync(async token =>
                    {
                        if (!ledger.IsReady)
                        {
                            throw new LedgerUnavailableException($"the {ledger.Name} ledger is not connected");
                        }

                        var replayed = await recorder.ReplayAsync(token);
                        Log.SpoolReplayed(logger, replayed, recorder.Spool.Count);
                    }, stoppingToken);
                }

                await Task.Delay(PollInterval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: what is left stays in the spool file for the next start.
        }
    }
}
