using System.Globalization;
using StackExchange.Redis;
using Tollgate.Core.Redis;

namespace Tollgate.Core.RateLimits;

/// <summary>
/// Sliding-minute windows in Redis, shared by every meter on the same ledger: one counter per rule, kind and minute
/// (<c>&lt;prefix&gt;rl:&lt;rule&gt;:&lt;r|t&gt;:&lt;minute&gt;</c>), expiring two minutes after it starts. The check of
/// every limit and the count of the request are one script, so concurrent meters cannot both take the last slot.
/// </summary>
public sealed class RedisRateLimiter : IRateLimiter
{
    private static readonly TimeSpan CounterLifetime = TimeSpan.FromMinutes(2);

    // KEYS: per limit, previous minute then current minute. ARGV: fraction, then per limit kind (r/t) and limit.
    // Returns {0} when allowed, else {limit number (1-based), previous, current}.
    private static readonly RedisScript Acquire = new("""
        local f = tonumber(ARGV[1])
        local n = #KEYS / 2
        for i = 1, n do
          local prev = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
          local cur = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
          local kind = ARGV[2 * i]
          local limit = tonumber(ARGV[2 * i + 1])
          local count = prev * (1 - f) + cur
          if (kind == 'r' and count + 1 > limit) or (kind == 't' and count >= limit) then
            return {i, prev, cur}
          end
        end
        for i = 1, n do
          if ARGV[2 * i] == 'r' then
            redis.call('INCR', KEYS[2 * i])
            redis.call('PEXPIRE', KEYS[2 * i], ARGV[#ARGV])
          end
        end
        return {0}
        """);

    // KEYS: current-minute token counters. ARGV: tokens, TTL (ms).
    private static readonly RedisScript AddTokens = new("""
        for i = 1, #KEYS do
          redis.call('INCRBY', KEYS[i], ARGV[1])
          redis.call('PEXPIRE', KEYS[i], ARGV[2])
        end
        return #KEYS
        """);

    private readonly RedisScriptRunner _redis;
    private readonly string _prefix;

    /// <summary>A limiter on <paramref name="connection"/>, its windows under the connection's key prefix.</summary>
    public RedisRateLimiter(RedisConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _redis = connection.Scripts;
        _prefix = connection.Options.KeyPrefix + "rl:";
    }

    public async ValueTask<RateLimitResult> AcquireAsync(IReadOnlyList<RateLimitCharge> charges, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (minute, fraction) = SlidingWindow.Position(now);
        var limits = new List<(int Charge, RateLimitKind Kind, long Limit)>();
        for (var i = 0; i < charges.Count; i++)
        {
            foreach (var (kind, limit) in InProcessRateLimiter.Limits(charges[i]))
            {
                limits.Add((i, kind, limit));
            }
        }

        if (limits.Count == 0)
        {
            return RateLimitResult.Allowed;
        }

        var keys = new RedisKey[limits.Count * 2];
        var values = new RedisValue[(limits.Count * 2) + 2];
        values[0] = fraction.ToString("R", CultureInfo.InvariantCulture);
        for (var i = 0; i < limits.Count; i++)
        {
            var (charge, kind, limit) = limits[i];
            keys[2 * i] = Key(charges[charge].Key, kind, minute - 1);
            keys[(2 * i) + 1] = Key(charges[charge].Key, kind, minute);
            values[(2 * i) + 1] = kind == RateLimitKind.Requests ? "r" : "t";
            values[(2 * i) + 2] = limit;
        }

        values[^1] = (long)CounterLifetime.TotalMilliseconds;
        var result = (RedisResult[])(await _redis.EvaluateAsync(Acquire, keys, values, cancellationToken))!;
        var index = (int)result[0];
        if (index == 0)
        {
            return RateLimitResult.Allowed;
        }

        var (blockingCharge, blockingKind, blockingLimit) = limits[index - 1];
        var previous = (long)result[1];
        var current = (long)result[2];
        return new RateLimitResult(blockingCharge, blockingKind, blockingLimit,
            SlidingWindow.RetryAfter(blockingKind, blockingLimit, previous, current, fraction));
    }

    public async ValueTask RecordTokensAsync(IReadOnlyList<RateLimitCharge> charges, long tokens, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (minute, _) = SlidingWindow.Position(now);
        var keys = charges.Where(c => c.TokensPerMinute is not null).Select(c => (RedisKey)Key(c.Key, RateLimitKind.Tokens, minute)).ToArray();
        if (keys.Length == 0 || tokens <= 0)
        {
            return;
        }

        await _redis.EvaluateAsync(AddTokens, keys, [tokens, (long)CounterLifetime.TotalMilliseconds], cancellationToken);
    }

    private string Key(string rule, RateLimitKind kind, long minute) =>
        $"{_prefix}{rule}:{(kind == RateLimitKind.Requests ? 'r' : 't')}:{minute.ToString(CultureInfo.InvariantCulture)}";
}
