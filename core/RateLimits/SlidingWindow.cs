namespace Tollgate.Core.RateLimits;

/// <summary>
/// A sliding minute approximated from two fixed minutes (the technique of Cloudflare's and Envoy's limiters): the count
/// "in the last 60 s" is the current minute's count plus the previous minute's, weighted by how much of it still falls
/// inside the window. Two integers per key and limit, exact at minute boundaries, smooth in between. Both limiters (in
/// process and Redis) decide with these functions, so they agree.
/// </summary>
public static class SlidingWindow
{
    public const long WindowSeconds = 60;

    /// <summary>The minute index of <paramref name="now"/> and how far into it (0 ≤ fraction &lt; 1) it is.</summary>
    public static (long Minute, double Fraction) Position(DateTimeOffset now)
    {
        var milliseconds = now.ToUnixTimeMilliseconds();
        var minute = milliseconds / (WindowSeconds * 1000);
        return (minute, (milliseconds - (minute * WindowSeconds * 1000)) / (WindowSeconds * 1000.0));
    }

    public static double Count(long previous, long current, double fraction) => (previous * (1 - fraction)) + current;

    /// <summary>Requests: one more must fit. Tokens: admission needs headroom (the request's own size is unknown until it ends).</summary>
    public static bool Blocks(RateLimitKind kind, long limit, long previous, long current, double fraction) => kind == RateLimitKind.Requests
        ? Count(previous, current, fraction) + 1 > limit
        : Count(previous, current, fraction) >= limit;

    /// <summary>How long until the window has room again if nothing else is added; at least one second.</summary>
    public static TimeSpan RetryAfter(RateLimitKind kind, long limit, long previous, long current, double fraction)
    {
        // The room needed below the limit: a whole request, or any headroom for tokens.
        var target = kind == RateLimitKind.Requests ? limit - 1.0 : limit - 1e-9;
        double seconds;
        if (current > target)
        {
            // Not even the current minute fits: wait for it to become "previous" and decay enough.
            var decay = current <= 0 ? 0 : Math.Clamp(1 - (Math.Max(target, 0) / current), 0, 1);
            seconds = ((1 - fraction) + decay) * WindowSeconds;
        }
        else
        {
            var decayNeeded = previous <= 0 ? fraction : Math.Clamp(1 - ((target - current) / previous), 0, 1);
            seconds = Math.Max(decayNeeded - fraction, 0) * WindowSeconds;
        }

        return TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(seconds)));
    }
}

public enum RateLimitKind
{
    Requests,
    Tokens,
}
