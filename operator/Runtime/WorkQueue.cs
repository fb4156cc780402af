using System.Threading.Channels;

namespace Tollgate.Operator.Runtime;

/// <summary>
/// A queue of object keys (<c>namespace/name</c>) for one controller. A key waiting in the queue is queued once however
/// often it is added; a key being processed that is added again is processed once more afterwards, never concurrently.
/// Failed keys come back after a per-key exponential delay; delays run on the injected <see cref="TimeProvider"/>.
/// </summary>
internal sealed class WorkQueue : IDisposable
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _queued = new(StringComparer.Ordinal);
    private readonly HashSet<string> _processing = new(StringComparer.Ordinal);
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ITimer> _delayed = new(StringComparer.Ordinal);
    private readonly Channel<string> _ready = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TimeProvider _time;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;

    public WorkQueue(TimeProvider time, TimeSpan? baseDelay = null, TimeSpan? maxDelay = null)
    {
        _time = time;
        _baseDelay = baseDelay ?? TimeSpan.FromMilliseconds(50);
        _maxDelay = maxDelay ?? TimeSpan.FromMinutes(5);
    }

    public void Add(string key)
    {
        lock (_gate)
        {
            if (_processing.Contains(key))
            {
                _dirty.Add(key);
                return;
            }

            if (_queued.Add(key))
            {
                _ready.Writer.TryWrite(key);
            }
        }
    }

    /// <summary>Adds the key after <paramref name="delay"/>; an earlier pending delay for the key is kept if it is sooner.</summary>
    public void AddAfter(string key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (_gate)
        {
            if (_delayed.Remove(key, out var previous))
            {
                previous.Dispose();
            }

            ITimer? timer = null;
            timer = _time.CreateTimer(
                _ =>
                {
                    lock (_gate)
                    {
                        if (_delayed.TryGetValue(key, out var current) && ReferenceEquals(current, timer))
                        {
                            _delayed.Remove(key);
                        }
                    }

                    Add(key);
                },
                null,
                delay,
                Timeout.InfiniteTimeSpan);
            _delayed[key] = timer;
        }
    }

    /// <summary>Retries the key later: base × 2^(failures), capped, with up to 10 % jitter so a burst of failures spreads out.</summary>
    public TimeSpan AddRateLimited(string key)
    {
        TimeSpan delay;
        lock (_gate)
        {
            var failures = _failures.GetValueOrDefault(key);
            _failures[key] = failures + 1;
            var exponential = _baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 20));
            var capped = Math.Min(exponential, _maxDelay.TotalMilliseconds);
            delay = TimeSpan.FromMilliseconds(capped + (capped * 0.1 * Random.Shared.NextDouble()));
        }

        AddAfter(key, delay);
        return delay;
    }

    /// <summary>Resets the key's retry delay after a success.</summary>
    public void Forget(string key)
    {
        lock (_gate)
        {
            _failures.Remove(key);
        }
    }

    /// <summary>Waits for the next key; the caller must call <see cref="Done"/> when finished with it.</summary>
    public async ValueTask<string> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var key = await _ready.Reader.ReadAsync(cancellationToken);
            lock (_gate)
            {
                if (_queued.Remove(key))
                {
                    _processing.Add(key);
                    return key;
                }
            }
        }
    }

    public void Done(string key)
    {
        lock (_gate)
        {
            _processing.Remove(key);
            if (_dirty.Remove(key) && _queued.Add(key))
            {
                _ready.Writer.TryWrite(key);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var timer in _delayed.Values)
            {
                timer.Dispose();
            }

            _delayed.Clear();
            _ready.Writer.TryComplete();
        }
    }
}
