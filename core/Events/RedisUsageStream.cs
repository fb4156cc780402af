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

    /// <summary>The exporter's view: the stream of the ledger at <paramref name="ledger"/>'s prefix, read with its connection.</summary>
    public static RedisUsageStream Reader(RedisLedger ledger, TimeProvider time) => For(ledger, new UsageStreamOptions(), time);

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
        await foreach (var usageEvent in ReadRangeAsync(DateTimeOffset.MinValue, DateTimeOffset.MaxValue, cancellationToken))
        {
            list.Add(usageEvent);
        }

        return list;
    }

    /// <summary>The entries appended between two times (entry ids are their append time), oldest first, read in pages.</summary>
    public async IAsyncEnumerable<UsageEvent> ReadRangeAsync(DateTimeOffset from, DateTimeOffset to, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const int Page = 1000;
        RedisValue start = from == DateTimeOffset.MinValue ? "-" : from.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        RedisValue end = to == DateTimeOffset.MaxValue ? "+" : to.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        while (true)
        {
            var entries = await _redis.ExecuteAsync(db => db.StreamRangeAsync(_stream, start, end, Page), cancellationToken);
            foreach (var entry in entries)
            {
                yield return UsageEventJson.Parse((byte[])entry["event"]!);
            }

            if (entries.Length < Page)
            {
                yield break;
            }

            // Exclusive start after the last entry read ("(" needs Redis 6.2).
            start = "(" + entries[^1].Id;
        }
    }

    /// <summary>Creates the consumer group (at the start of the stream) unless it exists.</summary>
    public async Task EnsureGroupAsync(string group, CancellationToken cancellationToken)
    {
        try
        {
            await _redis.ExecuteAsync(db => db.StreamCreateConsumerGroupAsync(_stream, group, StreamPosition.Beginning, createStream: true), cancellationToken);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another exporter, or an earlier run, created it.
        }
    }

    /// <summary>
    /// Reads for a consumer of a group: its own pending entries (delivered before, never acknowledged) when
    /// <paramref name="pending"/>, else new ones.
    /// </summary>
    public async Task<IReadOnlyList<UsageStreamEntry>> ReadGroupAsync(string group, string consumer, bool pending, int count, CancellationToken cancellationToken)
    {
        var entries = await _redis.ExecuteAsync(
            db => db.StreamReadGroupAsync(_stream, group, consumer, pending ? StreamPosition.Beginning : StreamPosition.NewMessages, count),
            cancellationToken);
        var list = new List<UsageStreamEntry>(entries.Length);
        foreach (var entry in entries)
        {
            // A pending entry trimmed away by retention comes back without fields: nothing is left to count.
            if (!entry.IsNull && entry["event"] is { IsNull: false } json)
            {
                list.Add(new UsageStreamEntry(entry.Id!, UsageEventJson.Parse((byte[])json!)));
            }
            else
            {
                list.Add(new UsageStreamEntry(entry.Id!, null));
            }
        }

        return list;
    }

    public Task AcknowledgeAsync(string group, IReadOnlyList<string> ids, CancellationToken cancellationToken) =>
        _redis.ExecuteAsync(db => db.StreamAcknowledgeAsync(_stream, group, [.. ids.Select(id => (RedisValue)id)]), cancellationToken);

    /// <summary>Stores a consumer's state (what it has counted, and up to which entry) under <c>&lt;prefix&gt;exporter:&lt;name&gt;</c>.</summary>
    public Task SaveStateAsync(string name, string state, CancellationToken cancellationToken) =>
        _redis.ExecuteAsync(db => db.StringSetAsync(KeyPrefix + "exporter:" + name, state), cancellationToken);

    public async Task<string?> LoadStateAsync(string name, CancellationToken cancellationToken) =>
        await _redis.ExecuteAsync(db => db.StringGetAsync(KeyPrefix + "exporter:" + name), cancellationToken);

    /// <summary>Orders two stream entry ids (<c>ms-seq</c>).</summary>
    public static int CompareIds(string a, string b)
    {
        var (am, aSeq) = ParseId(a);
        var (bm, bSeq) = ParseId(b);
        return am != bm ? am.CompareTo(bm) : aSeq.CompareTo(bSeq);
    }

    private static (long Ms, long Seq) ParseId(string id)
    {
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash < 0
            ? (long.Parse(id, System.Globalization.CultureInfo.InvariantCulture), 0)
            : (long.Parse(id.AsSpan(0, dash), System.Globalization.CultureInfo.InvariantCulture), long.Parse(id.AsSpan(dash + 1), System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>One stream entry: its id and its event (null when retention removed it while it was pending).</summary>
public sealed record UsageStreamEntry(string Id, UsageEvent? Event);

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
