using StackExchange.Redis;
using Tollgate.Core.Ledger;
using Tollgate.Core.Ledger.Redis;

namespace Tollgate.Core.Events;

/// <summary>
/// Appends usage events to a Redis Stream (<c>&lt;prefix&gt;usage</c>), the feed the exporter consumes. Each entry has
/// the fields <c>id</c> (request id) and <c>event</c> (<see cref="UsageEventJson"/>). Entries older than
/// <see cref="UsageStreamOptions.Retention"/> are trimmed on every append (<c>XADD MINID ~</c>: entry ids are
/// millisecond timestamps, so trimming by id is trimming by time). A marker key per request id, kept for
/// <see cref="UsageStreamOptions.DedupeWindow"/>, makes a replayed append a no-op in the same script.
/// </summary>
public sealed class RedisUsageStream : IUsageSink
{
    // KEYS: stream, marker. ARGV: request id, event JSON, oldest id to keep (ms), marker TTL (ms).
    private static readonly RedisLedgerScript Append = new("""
        if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
          return redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[3], '*', 'id', ARGV[1], 'event', ARGV[2])
        end
        return false
        """);

    private readonly RedisScriptRunner _redis;
    private readonly UsageStreamOptions _options;
    private readonly TimeProvider _time;
    private readonly RedisKey _stream;

    internal RedisUsageStream(RedisScriptRunner redis, string keyPrefix, UsageStreamOptions options, TimeProvider time)
    {
        _redis = redis;
        _options = options;
        _time = time;
        KeyPrefix = keyPrefix;
        _stream = StreamKey(keyPrefix);
    }

    public string KeyPrefix { get; }

    /// <summary>The stream's key for a ledger key prefix (what the exporter reads).</summary>
    public static string StreamKey(string keyPrefix) => keyPrefix + "usage";

    /// <summary>A usage stream on the ledger's connection and key prefix, so both live in the same slot and server.</summary>
    public static RedisUsageStream For(RedisLedger ledger, UsageStreamOptions options, TimeProvider time) =>
        new(ledger.Scripts, ledger.Options.KeyPrefix, options, time);

    public async ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken)
    {
        var oldest = (_time.GetUtcNow() - _options.Retention).ToUnixTimeMilliseconds();
        await _redis.EvaluateAsync(
            Append,
            [_stream, KeyPrefix + "u:" + usageEvent.RequestId],
            [usageEvent.RequestId, UsageEventJson.Serialize(usageEvent), oldest, (long)_options.DedupeWindow.TotalMilliseconds],
            cancellationToken);
    }

    /// <summary>Reads entries in order (for tests and tools; the exporter keeps its own position).</summary>
    public async Task<IReadOnlyList<UsageEvent>> ReadAllAsync(CancellationToken cancellationToken)
    {
        var list = new List<UsageEvent>();
        RedisValue position = "-";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entries = await _redis.Database.StreamRangeAsync(_stream, position, "+", 1000);
            foreach (var entry in entries)
            {
                if (entry.Id == position)
                {
                    continue;
                }

                list.Add(UsageEventJson.Parse((byte[])entry["event"]!));
            }

            if (entries.Length < 1000)
            {
                return list;
            }

            position = entries[^1].Id;
        }
    }
}

/// <summary>How long the usage stream keeps events and request-id markers.</summary>
public sealed record UsageStreamOptions
{
    /// <summary>How long events stay in the stream. Default 35 days: a full month plus margin for the exporter and backfills.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(35);

    /// <summary>
    /// How long an appended request id is remembered, so a replayed append is a no-op. Default 3 days: spools drain within
    /// minutes of Redis returning, and every id costs a small key for this long (about 100 bytes; 300 MB at a million
    /// requests a day would be a 3-day window's worth).
    /// </summary>
    public TimeSpan DedupeWindow { get; init; } = TimeSpan.FromDays(3);
}
