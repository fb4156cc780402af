namespace Tollgate.Core.RateLimits;

/// <summary>The standalone limiter: the windows of one process, behind one lock.</summary>
public sealed class InProcessRateLimiter : IRateLimiter
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Key, RateLimitKind Kind), Window> _windows = [];

    public ValueTask<RateLimitResult> AcquireAsync(IReadOnlyList<RateLimitCharge> charges, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (minute, fraction) = SlidingWindow.Position(now);
        lock (_gate)
        {
            for (var i = 0; i < charges.Count; i++)
            {
                foreach (var (kind, limit) in Limits(charges[i]))
                {
                    var (previous, current) = WindowFor(charges[i].Key, kind, minute).Counts(minute);
                    if (SlidingWindow.Blocks(kind, limit, previous, current, fraction))
                    {
                        return ValueTask.FromResult(new RateLimitResult(i, kind, limit, SlidingWindow.RetryAfter(kind, limit, previous, current, fraction)));
                    }
                }
            }

            foreach (var charge in charges)
            {
                if (charge.RequestsPerMinute is not null)
                {
                    WindowFor(charge.Key, RateLimitKind.Requests, minute).Add(minute, 1);
                }
            }
        }

        return ValueTask.FromResult(RateLimitResult.Allowed);
    }

    public ValueTask RecordTokensAsync(IReadOnlyList<RateLimitCharge> charges, long tokens, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (minute, _) = SlidingWindow.Position(now);
        lock (_gate)
        {
            foreach (var charge in charges)
            {
                if (charge.TokensPerMinute is not null && tokens > 0)
                {
                    WindowFor(charge.Key, RateLimitKind.Tokens, minute).Add(minute, tokens);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    internal static IEnumerable<(RateLimitKind Kind, long Limit)> Limits(RateLimitCharge charge)
    {
        if (charge.RequestsPerMinute is { } rpm)
        {
            yield return (RateLimitKind.Requests, rpm);
        }

        if (charge.TokensPerMinute is { } tpm)
        {
            yield return (RateLimitKind.Tokens, tpm);
        }
    }

    private Window WindowFor(string key, RateLimitKind kind, long minute)
    {
        if (!_windows.TryGetValue((key, kind), out var window))
        {
            window = new Window { Minute = minute };
            _windows[(key, kind)] = window;
        }

        return window;
    }

    private sealed class Window
    {
        public long Minute { get; set; }

        public long Previous { get; set; }

        public long Current { get; set; }

        public (long Previous, long Current) Counts(long minute)
        {
            Roll(minute);
            return (Previous, Current);
        }

        public void Add(long minute, long amount)
        {
            Roll(minute);
            Current += amount;
        }

        private void Roll(long minute)
        {
            if (minute == Minute)
            {
                return;
            }

            Previous = minute == Minute + 1 ? Current : 0;
            Current = 0;
            Minute = minute;
        }
    }
}
