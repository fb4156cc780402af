using Tollgate.Core.Usage;

namespace Tollgate.Core.Caching;

/// <summary>A response kept to answer a repeat of the request that produced it.</summary>
/// <param name="Status">The HTTP status the client received (only 200s are cached; see <see cref="ResponseCache.IsCacheable"/>).</param>
/// <param name="ContentType">The response's <c>Content-Type</c>.</param>
/// <param name="Body">
/// The exact bytes the client received: a JSON body or a whole event stream. The cache keeps this memory as it is, so
/// its owner must not change it afterwards (<see cref="CacheCapture.ToMemory"/> returns a copy of its own).
/// </param>
/// <param name="Model">The model the provider served.</param>
/// <param name="Usage">The tokens the original request was billed for.</param>
/// <param name="CostUsd">What the original request cost; every hit saves this much.</param>
/// <param name="EventStream">True when <paramref name="Body"/> is a server-sent event stream.</param>
/// <param name="StoredAt">When the response was produced; an entry's time to live counts from here.</param>
public sealed record CachedResponse(
    int Status,
    string ContentType,
    ReadOnlyMemory<byte> Body,
    string Model,
    TokenUsage Usage,
    decimal CostUsd,
    bool EventStream,
    DateTimeOffset StoredAt)
{
    /// <summary>
    /// A fixed estimate of what an entry costs beyond its body: this record, its strings, the cache's list node and
    /// dictionary slot. It keeps a flood of tiny responses from being counted as nearly free.
    /// </summary>
    public const int EntryOverheadBytes = 256;

    /// <summary>The bytes this entry is counted as against <see cref="ResponseCacheOptions.MaxBytes"/>.</summary>
    public long SizeBytes => Body.Length + (long)EntryOverheadBytes;
}
