using StackExchange.Redis;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;

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
    private static readonly RedisScript Append = new("""
        if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
          return redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[3], '*', 'id', ARGV[1], 'event', ARGV[2])
        end
        return false
        """);

    // KEYS: state, request ids (sorted set scored by append time). ARGV: state, oldest score kept, most ids kept, then
    // score/id pairs. The totals and the ids they contain change together, or neither does.
    private static readonly RedisScript SaveWithIds = new("""
        redis.call('SET', KEYS[1], ARGV[1])
        for i = 4, #ARGV, 2 do
          redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
        local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
        if excess > 0 then
          redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
        end
        return 1
        """);

    private readonly RedisScriptRunner _redis;
    private readonly UsageStreamOptions _options;
    private readonly UsageEventLimits _limits;
    private readonly TimeProvider _time;
    private readonly RedisKey _stream;
    private readonly RedisKey _deadLetters;

    /// <summary>A usage stream on <paramref name="connection"/> under its key prefix, so it lives in the ledger's slot and server.</summary>
    public RedisUsageStream(RedisConnection connection, UsageStreamOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        Connection = connection;
        _redis = connection.Scripts;
        var keyPrefix = connection.Options.KeyPrefix;
        _options = options;
        _limits = UsageEventLimits.ForStream(options);
        _time = time;
        KeyPrefix = keyPrefix;
        _stream = StreamKey(keyPrefix);
        _deadLetters = DeadLetterKey(keyPrefix);
    }

    public string KeyPrefix { get; }

    /// <summary>The connection the stream reads and writes on.</summary>
    internal RedisConnection Connection { get; }

    /// <summary>The stream's key for a ledger key prefix (what the exporter reads).</summary>
    public static string StreamKey(string keyPrefix) => keyPrefix + "usage";

    /// <summary>The dead-letter stream for a ledger key prefix: copies of the entries readers refused, for inspection.</summary>
    public static string DeadLetterKey(string keyPrefix) => keyPrefix + "usage:dead";

    /// <summary>The exporter's view: the stream under <paramref name="connection"/>'s key prefix, with the default options.</summary>
    public static RedisUsageStream Reader(RedisConnection connection, TimeProvider time) => new(connection, new UsageStreamOptions(), time);

    public async ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken)
    {
        await _redis.EvaluateAsync(
            Append,
            [_stream, MarkerKey(usageEvent.RequestId)],
            [usageEvent.RequestId, UsageEventJson.Serialize(usageEvent), OldestKeptMs, DedupeWindowMs],
            cancellationToken);
    }

    /// <summary>The stream's key.</summary>
    internal RedisKey Key => _stream;

    /// <summary>The oldest entry id (ms) an append keeps; older ones are trimmed.</summary>
    internal long OldestKeptMs => (_time.GetUtcNow() - _options.Retention).ToUnixTimeMilliseconds();

    /// <summary>How long a request id's marker makes a repeated append a no-op (ms).</summary>
    internal long DedupeWindowMs => (long)_options.DedupeWindow.TotalMilliseconds;

    /// <summary>The marker that says a request id's event was appended.</summary>
    internal RedisKey MarkerKey(string requestId) => KeyPrefix + "u:" + requestId;

    /// <summary>
    /// The valid events of the entries appended between two times (entry ids are their append time), oldest first, read in
    /// pages. An entry <see cref="UsageEventReader"/> refuses is skipped and handed to <paramref name="onRejected"/>.
    /// </summary>
    public async IAsyncEnumerable<UsageEvent> ReadRangeAsync(
        DateTimeOffset from, DateTimeOffset to, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken,
        Action<UsageStreamEntry>? onRejected = null)
    {
        const int Page = 1000;
        // Stream ids start at 0-0: a time before 1970 is the stream's start, not an id Redis refuses.
        RedisValue start = from.ToUnixTimeMilliseconds() <= 0 ? "-" : from.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        RedisValue end = to == DateTimeOffset.MaxValue ? "+" : Math.Max(0, to.ToUnixTimeMilliseconds()).ToString(System.Globalization.CultureInfo.InvariantCulture);
        while (true)
        {
            var entries = await _redis.ExecuteAsync(db => db.StreamRangeAsync(_stream, start, end, Page), cancellationToken);
            foreach (var entry in entries)
            {
                var read = Read(entry);
                if (read.Event is not null)
                {
                    yield return read.Event;
                }
                else if (read.Rejection is not null)
                {
                    onRejected?.Invoke(read);
                }
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
        return [.. entries.Select(Read)];
    }

    /// <summary>
    /// Copies refused entries to the dead-letter stream (<see cref="DeadLetterKey"/>), which keeps about the newest
    /// <paramref name="maxLength"/>: the entry's id, the reason and detail, and its fields cut to 4 KiB each.
    /// </summary>
    public async Task DeadLetterAsync(IReadOnlyList<UsageStreamEntry> refused, int maxLength, CancellationToken cancellationToken)
    {
        if (refused.Count == 0)
        {
            return;
        }

        var copies = refused.Select(entry => (NameValueEntry[])
        [
            new("entry", entry.Id),
            new("reason", entry.Rejection?.Reason ?? string.Empty),
            new("detail", entry.Rejection?.Detail ?? string.Empty),
            .. entry.Fields.Select(f => new NameValueEntry("field:" + f.Name, f.Value)),
        ]).ToList();

        // Issued together, one connection keeps them in order: one round trip for a batch full of bad entries.
        await _redis.ExecuteAsync(
            async db => await Task.WhenAll(copies.Select(fields => db.StreamAddAsync(_deadLetters, fields, maxLength: maxLength, useApproximateMaxLength: true))),
            cancellationToken);
    }

    /// <summary>
    /// Saves a consumer's state together with the request ids it has counted (each scored by its entry's append time, in
    /// ms) in one script: ids older than <paramref name="oldest"/> are dropped, and at most <paramref name="maxIds"/> of the
    /// newest are kept.
    /// </summary>
    public Task SaveStateAsync(string name, string state, IReadOnlyList<(long AppendedMs, string RequestId)> ids, DateTimeOffset oldest, long maxIds, CancellationToken cancellationToken)
    {
        var values = new RedisValue[3 + (2 * ids.Count)];
        values[0] = state;
        values[1] = oldest.ToUnixTimeMilliseconds();
        values[2] = maxIds;
        for (var i = 0; i < ids.Count; i++)
        {
            values[3 + (2 * i)] = ids[i].AppendedMs;
            values[4 + (2 * i)] = ids[i].RequestId;
        }

        return _redis.EvaluateAsync(SaveWithIds, [KeyPrefix + "exporter:" + name, RequestIdsKey(name)], values, cancellationToken);
    }

    /// <summary>Which of <paramref name="requestIds"/> a consumer's saved state has counted.</summary>
    public async Task<IReadOnlySet<string>> CountedAsync(string name, IReadOnlyList<string> requestIds, CancellationToken cancellationToken)
    {
        if (requestIds.Count == 0)
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }

        var scores = await _redis.ExecuteAsync(db => db.SortedSetScoresAsync(RequestIdsKey(name), [.. requestIds.Select(id => (RedisValue)id)]), cancellationToken);
        var counted = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < scores.Length; i++)
        {
            if (scores[i] is not null)
            {
                counted.Add(requestIds[i]);
            }
        }

        return counted;
    }

    /// <summary>Entries delivered to the group and not yet acknowledged, and entries not yet delivered (null when the server cannot tell).</summary>
    public async Task<(long Pending, long? Lag)> GroupBacklogAsync(string group, CancellationToken cancellationToken)
    {
        var groups = await _redis.ExecuteAsync(db => db.StreamGroupInfoAsync(_stream), cancellationToken);
        foreach (var info in groups)
        {
            if (info.Name == group)
            {
                return (info.PendingMessageCount, info.Lag);
            }
        }

        return (0, null);
    }

    // Cut as bytes: a field may not be UTF-8 at all, and a 5 MB one must not become a 5 MB string.
    private static string Cut(RedisValue value)
    {
        if (value.IsNull)
        {
            return string.Empty;
        }

        var bytes = (byte[])value!;
        var text = System.Text.Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 4096));
        return bytes.Length <= 4096 ? text : text + "…";
    }

    private string RequestIdsKey(string name) => KeyPrefix + "exporter:" + name + ":ids";

    private UsageStreamEntry Read(StreamEntry entry)
    {
        // A pending entry trimmed away by retention comes back without fields: nothing is left to count or refuse.
        if (entry.IsNull || entry.Values is not { Length: > 0 } values)
        {
            return new UsageStreamEntry(entry.Id!, null);
        }

        if (entry["event"] is not { IsNull: false } json)
        {
            return new UsageStreamEntry(entry.Id!, null, new UsageEventRejection(UsageEventRejections.MissingEvent, "the entry has no \"event\" field"), Fields(values));
        }

        return UsageEventReader.TryRead((byte[])json!, _limits, _time.GetUtcNow(), out var usageEvent, out var rejection)
            ? new UsageStreamEntry(entry.Id!, usageEvent)
            : new UsageStreamEntry(entry.Id!, null, rejection, Fields(values));
    }

    private static List<(string Name, string Value)> Fields(NameValueEntry[] values) =>
        [.. values.Take(16).Select(v => (Cut(v.Name), Cut(v.Value)))];

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

/// <summary>
/// One stream entry: its id and its event; null when retention removed it while it was pending, or when the reader
/// refused it (then <see cref="Rejection"/> says why and <see cref="Fields"/> holds what it was, for the dead letters).
/// </summary>
public sealed record UsageStreamEntry(string Id, UsageEvent? Event, UsageEventRejection? Rejection = null, IReadOnlyList<(string Name, string Value)>? RawFields = null)
{
    public IReadOnlyList<(string Name, string Value)> Fields => RawFields ?? [];
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
