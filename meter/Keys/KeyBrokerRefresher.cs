using Tollgate.Meter.Metering;

namespace Tollgate.Meter.Keys;

/// <summary>
/// Fetches the pod's credentials from the key broker at start, then every <c>refreshSeconds</c> the broker asks for
/// (a little early, at random, so that the meters of a namespace do not ask in step). After a failure it retries with
/// jittered exponential backoff, keeping the credentials the broker gave last; it logs the first failure of a run and
/// then at most one a minute, so a broker outage does not flood the log.
/// </summary>
internal sealed class KeyBrokerRefresher(KeyBrokerClient client, BrokerKeySource keys, MeterMetrics metrics, TimeProvider time, ILogger<KeyBrokerRefresher> logger)
    : BackgroundService
{
    /// <summary>The first retry after a failure; doubled per failure up to <see cref="MaximumBackoff"/>.</summary>
    public static readonly TimeSpan InitialBackoff = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan MaximumBackoff = TimeSpan.FromSeconds(60);

    /// <summary>The shortest refresh period honoured, whatever the broker asks: a broker cannot make its meters hammer it.</summary>
    public static readonly TimeSpan MinimumRefresh = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan FailureLogInterval = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Queue<KeyBrokerWait> _recentWaits = new();
    private int _attempts;
    private readonly List<(int Attempt, TaskCompletionSource<KeyBrokerWait> Signal)> _waiters = [];
    private DateTimeOffset _lastFailureLog = DateTimeOffset.MinValue;

    /// <summary>
    /// Completes once fetch number <paramref name="attempt"/> (from 1) is done and the refresher waits for the next,
    /// with that fetch's outcome and the wait: tests advance a fake clock by it instead of sleeping.
    /// </summary>
    internal Task<KeyBrokerWait> AttemptAsync(int attempt)
    {
        lock (_lock)
        {
            if (_attempts >= attempt)
            {
                // Only the last few are kept (a meter refreshes for months); tests ask for recent ones.
                var back = _attempts - attempt;
                return back < _recentWaits.Count
                    ? Task.FromResult(_recentWaits.ElementAt(_recentWaits.Count - 1 - back))
                    : Task.FromException<KeyBrokerWait>(new InvalidOperationException($"attempt {attempt} is too long ago"));
            }

            var signal = new TaskCompletionSource<KeyBrokerWait>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((attempt, signal));
            return signal.Task;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var (outcome, delay) = await FetchOnceAsync(stoppingToken);
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            // The timer exists before anyone is told to advance a clock past it.
            var waiting = Task.Delay(delay, time, stoppingToken);
            Waited(new KeyBrokerWait(outcome, delay));
            try
            {
                await waiting;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Waited(KeyBrokerWait wait)
    {
        lock (_lock)
        {
            _attempts++;
            _recentWaits.Enqueue(wait);
            if (_recentWaits.Count > 16)
            {
                _recentWaits.Dequeue();
            }

            foreach (var waiter in _waiters.Where(w => w.Attempt == _attempts).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Signal.TrySetResult(wait);
            }
        }
    }

    private async Task<(string Outcome, TimeSpan Delay)> FetchOnceAsync(CancellationToken stoppingToken)
    {
        var failures = keys.Failures;
        try
        {
            var answer = await client.FetchAsync(stoppingToken);

            // The first answer (and the first after failures) is news; the routine refresh every few minutes is not.
            var level = keys.AttemptedAt is null || failures > 0 ? LogLevel.Information : LogLevel.Debug;
            keys.Answered(answer);
            metrics.KeyBrokerRefreshes.WithLabels("ok").Inc();
            if (failures > 0)
            {
                Log.KeyBrokerRecovered(logger, failures);
            }

            if (logger.IsEnabled(level))
            {
                Log.KeyBrokerAnswered(logger, level, answer.ProviderKeys.Count, answer.Secrets.Count, answer.Ledger is null ? "none" : $"for user {answer.Ledger.User ?? "default"}", (int)answer.Refresh.TotalSeconds);
            }

            var refresh = answer.Refresh < MinimumRefresh ? MinimumRefresh : answer.Refresh;
            return ("ok", refresh * (0.9 + (0.1 * Random.Shared.NextDouble())));
        }
        catch (Exception ex) when (ex is KeyBrokerException || !(ex is OperationCanceledException && stoppingToken.IsCancellationRequested))
        {
            // Anything unforeseen counts as a failed fetch too: the refresher must outlive it, or the keys would go stale silently.
            var failure = ex as KeyBrokerException ?? new KeyBrokerException(KeyBrokerException.Unreachable, $"the fetch failed unexpectedly: {ex.GetType().Name}", ex);
            keys.Failed(failure.Outcome, failure.Message);
            metrics.KeyBrokerRefreshes.WithLabels(failure.Outcome).Inc();
            var delay = Backoff(failures + 1, keys.Current?.Refresh);
            var now = time.GetUtcNow();
            if (failures == 0 || now - _lastFailureLog >= FailureLogInterval)
            {
                _lastFailureLog = now;
                Log.KeyBrokerFailed(logger, failure.Outcome, failures + 1, failure.Message, (int)Math.Ceiling(delay.TotalSeconds));
            }

            return (failure.Outcome, delay);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return ("stopped", TimeSpan.Zero);
        }
    }

    /// <summary>Exponential from <see cref="InitialBackoff"/>, capped by <see cref="MaximumBackoff"/> and the refresh period, with "equal jitter" (half fixed, half random).</summary>
    internal static TimeSpan Backoff(int failures, TimeSpan? refresh)
    {
        var cap = refresh is { } period && period < MaximumBackoff ? period : MaximumBackoff;
        var exponential = InitialBackoff * Math.Pow(2, Math.Min(failures - 1, 16));
        var ceiling = exponential < cap ? exponential : cap;
        return ceiling * (0.5 + (0.5 * Random.Shared.NextDouble()));
    }
}

/// <summary>What a fetch ended with and how long the refresher waits before the next.</summary>
internal sealed record KeyBrokerWait(string Outcome, TimeSpan Delay);
