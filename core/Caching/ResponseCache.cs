using System.Diagnostics.CodeAnalysis;

namespace Tollgate.Core.Caching;

/// <summary>
/// An in-process, size-bounded cache of responses by <see cref="ResponseCacheKey"/>, evicting the least recently used
/// entries first. One lock guards everything: every operation is a dictionary lookup and a few pointer moves, far
/// cheaper than anything cleverer would save next to a proxied LLM call.
/// </summary>
/// <remarks>
/// An entry expires when the clock reaches <see cref="CachedResponse.StoredAt"/> plus its time to live: at that instant
/// it is already gone. Expired entries are removed when looked up; until then they count against
/// <see cref="ResponseCacheOptions.MaxBytes"/> and, never being read, drift to the eviction end of the list.
/// </remarks>
public sealed class ResponseCache
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ResponseCacheKey, LinkedListNode<Entry>> _entries = [];

    // First is the most recently used, last the next to evict.
    private readonly LinkedList<Entry> _recency = new();
    private readonly TimeProvider _time;
    private long _sizeBytes;
    private long _hits;
    private long _misses;
    private long _evictions;

    public ResponseCache(ResponseCacheOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxEntryBytes);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.DefaultTtl, TimeSpan.Zero);
        Options = options;
        _time = time;
    }

    public ResponseCacheOptions Options { get; }

    /// <summary>The sum of <see cref="CachedResponse.SizeBytes"/> over the entries held (expired ones not yet removed included).</summary>
    public long SizeBytes
    {
        get
        {
            lock (_gate)
            {
                return _sizeBytes;
            }
        }
    }

    /// <summary>Entries held, expired ones not yet removed included.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Lookups that found a live entry.</summary>
    public long Hits
    {
        get
        {
            lock (_gate)
            {
                return _hits;
            }
        }
    }

    /// <summary>Lookups that found no entry or an expired one.</summary>
    public long Misses
    {
        get
        {
            lock (_gate)
            {
                return _misses;
            }
        }
    }

    /// <summary>Entries removed to stay within <see cref="ResponseCacheOptions.MaxBytes"/> (not those that expired or were replaced).</summary>
    public long Evictions
    {
        get
        {
            lock (_gate)
            {
                return _evictions;
            }
        }
    }

    /// <summary>
    /// Whether a response may be cached: only a 200 the upstream completed (it reported final usage, or the stream
    /// ended normally). Errors, refusals and cut streams are never replayed.
    /// </summary>
    public static bool IsCacheable(int status, bool completed) => status == 200 && completed;

    /// <summary>Looks up a live entry; a hit makes it the most recently used, an expired entry is removed.</summary>
    public bool TryGet(ResponseCacheKey key, [NotNullWhen(true)] out CachedResponse? response)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                if (now < node.Value.ExpiresAt)
                {
                    _recency.Remove(node);
                    _recency.AddFirst(node);
                    _hits++;
                    response = node.Value.Response;
                    return true;
                }

                Remove(node);
            }

            _misses++;
        }

        response = null;
        return false;
    }

    /// <summary>Stores a response for <see cref="ResponseCacheOptions.DefaultTtl"/>; see <see cref="TryAdd(ResponseCacheKey, CachedResponse, TimeSpan)"/>.</summary>
    public bool TryAdd(ResponseCacheKey key, CachedResponse response) => TryAdd(key, response, Options.DefaultTtl);

    /// <summary>
    /// Stores a response until <see cref="CachedResponse.StoredAt"/> + <paramref name="ttl"/>, replacing any entry under
    /// the same key, then evicts least recently used entries until the cache is within
    /// <see cref="ResponseCacheOptions.MaxBytes"/>.
    /// </summary>
    /// <returns>
    /// False, storing nothing and leaving an existing entry in place, when the body is larger than
    /// <see cref="ResponseCacheOptions.MaxEntryBytes"/>, the entry could never fit in
    /// <see cref="ResponseCacheOptions.MaxBytes"/>, or <paramref name="ttl"/> is not positive or already over.
    /// </returns>
    public bool TryAdd(ResponseCacheKey key, CachedResponse response, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.Body.Length > Options.MaxEntryBytes || response.SizeBytes > Options.MaxBytes || ttl <= TimeSpan.Zero)
        {
            return false;
        }

        // Clamped: a ttl of TimeSpan.MaxValue means "until evicted", not an overflow.
        var expiresAt = ttl < DateTimeOffset.MaxValue - response.StoredAt ? response.StoredAt + ttl : DateTimeOffset.MaxValue;
        if (expiresAt <= _time.GetUtcNow())
        {
            return false;
        }

        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                Remove(existing);
            }

            _entries[key] = _recency.AddFirst(new Entry(key, response, expiresAt));
            _sizeBytes += response.SizeBytes;

            // Never evicts the entry just added: on its own it fits (checked above).
            while (_sizeBytes > Options.MaxBytes)
            {
                Remove(_recency.Last!);
                _evictions++;
            }
        }

        return true;
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _recency.Remove(node);
        _entries.Remove(node.Value.Key);
        _sizeBytes -= node.Value.Response.SizeBytes;
    }

    private readonly record struct Entry(ResponseCacheKey Key, CachedResponse Response, DateTimeOffset ExpiresAt);
}
