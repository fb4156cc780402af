namespace Tollgate.Core.Caching;

/// <summary>Limits of a <see cref="ResponseCache"/>.</summary>
public sealed record ResponseCacheOptions
{
    /// <summary>
    /// The total the cache may hold, counted as <see cref="CachedResponse.SizeBytes"/> (body plus a fixed overhead per
    /// entry); least recently used entries are evicted beyond it.
    /// </summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// The largest response body cached. It bounds the body alone, so it can be handed to <see cref="CacheCapture"/>
    /// as is; larger responses are streamed to the client and not kept.
    /// </summary>
    public long MaxEntryBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary>How long an entry lives when the caller names no time to live.</summary>
    public TimeSpan DefaultTtl { get; init; } = TimeSpan.FromHours(1);
}
