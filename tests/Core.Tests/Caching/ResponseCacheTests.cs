using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Caching;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Caching;

public sealed class ResponseCacheTests
{
    private const int BodyBytes = 100;
    private const long EntryBytes = BodyBytes + CachedResponse.EntryOverheadBytes;
    private static readonly DateTimeOffset Noon = new(2026, 11, 18, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private readonly FakeTimeProvider _time = new(Noon);

    private static ResponseCacheKey Key(string name, string scope = "payments") =>
        ResponseCacheKey.Compute(Encoding.UTF8.GetBytes($$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{{name}}"}]}"""), "openai", "/v1/chat/completions", scope);

    private CachedResponse Response(int bodyBytes = BodyBytes, byte fill = (byte)'x', decimal cost = 0.0125m, DateTimeOffset? storedAt = null) => new(
        200,
        "application/json",
        Enumerable.Repeat(fill, bodyBytes).ToArray(),
        "gpt-4o-mini-2024-07-18",
        new TokenUsage(1200, 300, 64, 0, 0),
        cost,
        EventStream: false,
        storedAt ?? _time.GetUtcNow());

    private ResponseCache Cache(long maxEntries = 100, long maxEntryBytes = 4096) =>
        new(new ResponseCacheOptions { MaxBytes = maxEntries * EntryBytes, MaxEntryBytes = maxEntryBytes }, _time);

    [Fact]
    public void A_hit_returns_the_stored_bytes_usage_and_cost()
    {
        var cache = Cache();
        var body = "data: {\"choices\":[]}\n\ndata: [DONE]\n\n"u8.ToArray();
        var stored = new CachedResponse(200, "text/event-stream", body, "gpt-4o", new TokenUsage(10, 20, 30, 0, 5), 0.5m, EventStream: true, Noon);

        Assert.True(cache.TryAdd(Key("a"), stored, Hour));
        Assert.True(cache.TryGet(Key("a"), out var hit));

        Assert.Equal(body, hit.Body.ToArray());
        Assert.Equal(new TokenUsage(10, 20, 30, 0, 5), hit.Usage);
        Assert.Equal(0.5m, hit.CostUsd);
        Assert.Equal("gpt-4o", hit.Model);
        Assert.Equal("text/event-stream", hit.ContentType);
        Assert.True(hit.EventStream);
        Assert.Equal(1, cache.Hits);
        Assert.Equal(0, cache.Misses);
    }

    [Fact]
    public void A_missing_key_is_a_miss()
    {
        var cache = Cache();
        cache.TryAdd(Key("a"), Response(), Hour);

        Assert.False(cache.TryGet(Key("b"), out var response));
        Assert.Null(response);
        Assert.Equal(0, cache.Hits);
        Assert.Equal(1, cache.Misses);
    }

    [Fact]
    public void Entries_of_one_team_are_never_served_to_another()
    {
        var cache = Cache();
        cache.TryAdd(Key("a", scope: "payments"), Response(), Hour);

        Assert.False(cache.TryGet(Key("a", scope: "search"), out _));
        Assert.True(cache.TryGet(Key("a", scope: "payments"), out _));
    }

    [Fact]
    public void An_entry_expires_exactly_when_its_ttl_has_passed()
    {
        var cache = Cache();
        cache.TryAdd(Key("a"), Response(), Hour);

        _time.Advance(Hour - TimeSpan.FromTicks(1));
        Assert.True(cache.TryGet(Key("a"), out _));

        // now >= StoredAt + ttl is expired: at the boundary the entry is already gone, and removed by the lookup.
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.False(cache.TryGet(Key("a"), out _));
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.SizeBytes);
        Assert.Equal(1, cache.Hits);
        Assert.Equal(1, cache.Misses);
        Assert.Equal(0, cache.Evictions);
    }

    [Fact]
    public void The_ttl_counts_from_when_the_response_was_stored()
    {
        var cache = Cache();
        cache.TryAdd(Key("a"), Response(storedAt: Noon - TimeSpan.FromMinutes(50)), Hour);

        _time.Advance(TimeSpan.FromMinutes(9));
        Assert.True(cache.TryGet(Key("a"), out _));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(cache.TryGet(Key("a"), out _));
    }

    [Fact]
    public void A_response_already_past_its_ttl_is_refused()
    {
        var cache = Cache();

        Assert.False(cache.TryAdd(Key("a"), Response(storedAt: Noon - Hour), Hour));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_non_positive_ttl_is_refused()
    {
        var cache = Cache();

        Assert.False(cache.TryAdd(Key("a"), Response(), TimeSpan.Zero));
        Assert.False(cache.TryAdd(Key("a"), Response(), TimeSpan.FromSeconds(-1)));
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.SizeBytes);
    }

    [Fact]
    public void The_default_ttl_applies_when_none_is_given()
    {
        var cache = new ResponseCache(new ResponseCacheOptions { DefaultTtl = TimeSpan.FromMinutes(5) }, _time);
        cache.TryAdd(Key("a"), Response());

        _time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromTicks(1));
        Assert.True(cache.TryGet(Key("a"), out _));
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.False(cache.TryGet(Key("a"), out _));
    }

    [Fact]
    public void A_maximal_ttl_keeps_the_entry_until_evicted()
    {
        var cache = Cache();

        Assert.True(cache.TryAdd(Key("a"), Response(), TimeSpan.MaxValue));
        _time.Advance(TimeSpan.FromDays(3650));
        Assert.True(cache.TryGet(Key("a"), out _));
    }

    [Fact]
    public void Least_recently_used_entries_are_evicted_first()
    {
        var cache = Cache(maxEntries: 3);
        cache.TryAdd(Key("a"), Response(), Hour);
        cache.TryAdd(Key("b"), Response(), Hour);
        cache.TryAdd(Key("c"), Response(), Hour);
        Assert.Equal(0, cache.Evictions);

        cache.TryAdd(Key("d"), Response(), Hour);

        Assert.Equal(1, cache.Evictions);
        Assert.Equal(3, cache.Count);
        Assert.Equal(3 * EntryBytes, cache.SizeBytes);
        Assert.False(cache.TryGet(Key("a"), out _));
        Assert.True(cache.TryGet(Key("b"), out _));
        Assert.True(cache.TryGet(Key("c"), out _));
        Assert.True(cache.TryGet(Key("d"), out _));
    }

    [Fact]
    public void Reading_an_entry_protects_it_from_eviction()
    {
        var cache = Cache(maxEntries: 3);
        cache.TryAdd(Key("a"), Response(), Hour);
        cache.TryAdd(Key("b"), Response(), Hour);
        cache.TryAdd(Key("c"), Response(), Hour);

        Assert.True(cache.TryGet(Key("a"), out _));
        cache.TryAdd(Key("d"), Response(), Hour);
        cache.TryAdd(Key("e"), Response(), Hour);

        Assert.Equal(2, cache.Evictions);
        Assert.True(cache.TryGet(Key("a"), out _));
        Assert.False(cache.TryGet(Key("b"), out _));
        Assert.False(cache.TryGet(Key("c"), out _));
        Assert.True(cache.TryGet(Key("d"), out _));
        Assert.True(cache.TryGet(Key("e"), out _));
    }

    [Fact]
    public void A_large_entry_evicts_as_many_old_entries_as_it_needs()
    {
        var cache = Cache(maxEntries: 4, maxEntryBytes: 4 * EntryBytes);
        cache.TryAdd(Key("a"), Response(), Hour);
        cache.TryAdd(Key("b"), Response(), Hour);
        cache.TryAdd(Key("c"), Response(), Hour);

        // A body the size of two small entries needs more than two slots with its own overhead: a and b must both go.
        Assert.True(cache.TryAdd(Key("big"), Response(bodyBytes: (int)(2 * EntryBytes)), Hour));

        Assert.Equal(2, cache.Evictions);
        Assert.Equal(2, cache.Count);
        Assert.Equal(EntryBytes + (2 * EntryBytes) + CachedResponse.EntryOverheadBytes, cache.SizeBytes);
        Assert.True(cache.TryGet(Key("c"), out _));
        Assert.True(cache.TryGet(Key("big"), out _));
    }

    [Fact]
    public void A_body_larger_than_MaxEntryBytes_is_refused_and_one_exactly_that_size_is_kept()
    {
        var cache = Cache(maxEntryBytes: 500);

        Assert.False(cache.TryAdd(Key("a"), Response(bodyBytes: 501), Hour));
        Assert.True(cache.TryAdd(Key("b"), Response(bodyBytes: 500), Hour));

        Assert.Equal(1, cache.Count);
        Assert.Equal(500 + CachedResponse.EntryOverheadBytes, cache.SizeBytes);
        Assert.False(cache.TryGet(Key("a"), out _));
    }

    [Fact]
    public void An_entry_that_could_never_fit_the_cache_is_refused_without_evicting_anything()
    {
        var cache = new ResponseCache(new ResponseCacheOptions { MaxBytes = 1000, MaxEntryBytes = 4096 }, _time);
        cache.TryAdd(Key("a"), Response(), Hour);

        Assert.False(cache.TryAdd(Key("b"), Response(bodyBytes: 1000 - CachedResponse.EntryOverheadBytes + 1), Hour));
        Assert.True(cache.TryGet(Key("a"), out _));
        Assert.Equal(0, cache.Evictions);

        Assert.True(cache.TryAdd(Key("c"), Response(bodyBytes: 1000 - CachedResponse.EntryOverheadBytes), Hour));
        Assert.Equal(1000, cache.SizeBytes);
        Assert.Equal(1, cache.Evictions);
    }

    [Fact]
    public void A_refused_replacement_leaves_the_existing_entry_in_place()
    {
        var cache = Cache(maxEntryBytes: 500);
        cache.TryAdd(Key("a"), Response(fill: (byte)'1'), Hour);

        Assert.False(cache.TryAdd(Key("a"), Response(bodyBytes: 501, fill: (byte)'2'), Hour));

        Assert.True(cache.TryGet(Key("a"), out var kept));
        Assert.Equal((byte)'1', kept.Body.Span[0]);
    }

    [Fact]
    public void Replacing_an_entry_updates_the_size_and_serves_the_new_response()
    {
        var cache = Cache();
        cache.TryAdd(Key("a"), Response(bodyBytes: 100, fill: (byte)'1'), Hour);
        cache.TryAdd(Key("b"), Response(bodyBytes: 50), Hour);

        Assert.True(cache.TryAdd(Key("a"), Response(bodyBytes: 300, fill: (byte)'2', cost: 0.2m), Hour));

        Assert.Equal(2, cache.Count);
        Assert.Equal(300 + 50 + (2 * CachedResponse.EntryOverheadBytes), cache.SizeBytes);
        Assert.Equal(0, cache.Evictions);
        Assert.True(cache.TryGet(Key("a"), out var replaced));
        Assert.Equal(300, replaced.Body.Length);
        Assert.Equal((byte)'2', replaced.Body.Span[0]);
        Assert.Equal(0.2m, replaced.CostUsd);
    }

    [Fact]
    public void Replacing_an_entry_makes_it_the_most_recently_used()
    {
        var cache = Cache(maxEntries: 2);
        cache.TryAdd(Key("a"), Response(), Hour);
        cache.TryAdd(Key("b"), Response(), Hour);
        cache.TryAdd(Key("a"), Response(), Hour);

        cache.TryAdd(Key("c"), Response(), Hour);

        Assert.True(cache.TryGet(Key("a"), out _));
        Assert.False(cache.TryGet(Key("b"), out _));
    }

    [Fact]
    public void Counters_add_up_over_a_sequence_of_operations()
    {
        var cache = Cache(maxEntries: 2);
        cache.TryAdd(Key("a"), Response(bodyBytes: 10), Hour);
        cache.TryAdd(Key("b"), Response(bodyBytes: 20), Hour);
        cache.TryAdd(Key("short"), Response(bodyBytes: 0), TimeSpan.FromMinutes(1)); // evicts a
        cache.TryGet(Key("b"), out _);
        cache.TryGet(Key("b"), out _);
        cache.TryGet(Key("a"), out _);
        _time.Advance(TimeSpan.FromMinutes(1));
        cache.TryGet(Key("short"), out _); // expired: a miss that removes it, not an eviction
        cache.TryAdd(Key("c"), Response(bodyBytes: 30), Hour);

        Assert.Equal(2, cache.Hits);
        Assert.Equal(2, cache.Misses);
        Assert.Equal(1, cache.Evictions);
        Assert.Equal(2, cache.Count);
        Assert.Equal(20 + 30 + (2 * CachedResponse.EntryOverheadBytes), cache.SizeBytes);
    }

    [Fact]
    public void The_entry_size_is_its_body_plus_a_fixed_overhead()
    {
        Assert.Equal(1234 + 256, Response(bodyBytes: 1234).SizeBytes);
        Assert.Equal(256, Response(bodyBytes: 0).SizeBytes);
    }

    [Theory]
    [InlineData(200, true, true)]
    [InlineData(200, false, false)]
    [InlineData(201, true, false)]
    [InlineData(429, true, false)]
    [InlineData(500, true, false)]
    public void Only_completed_200_responses_are_cacheable(int status, bool completed, bool cacheable)
    {
        Assert.Equal(cacheable, ResponseCache.IsCacheable(status, completed));
    }

    [Fact]
    public void Invalid_options_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResponseCache(new ResponseCacheOptions { MaxBytes = 0 }, _time));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResponseCache(new ResponseCacheOptions { MaxEntryBytes = -1 }, _time));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResponseCache(new ResponseCacheOptions { DefaultTtl = TimeSpan.Zero }, _time));
    }

    [Fact]
    public async Task Concurrent_adds_and_reads_keep_the_size_equal_to_the_entries_present()
    {
        const int Workers = 8;
        const int OperationsPerWorker = 5_000;
        const int Keys = 64;
        var keys = Enumerable.Range(0, Keys).Select(i => Key($"k{i}")).ToArray();

        // Room for about a quarter of the keys, with bodies of different sizes: evictions and replacements race.
        var cache = new ResponseCache(new ResponseCacheOptions { MaxBytes = 16 * (CachedResponse.EntryOverheadBytes + 200) }, _time);
        var gets = 0L;

        await Task.WhenAll(Enumerable.Range(0, Workers).Select(worker => Task.Run(() =>
        {
            var random = new Random(worker);
            for (var i = 0; i < OperationsPerWorker; i++)
            {
                var key = keys[random.Next(Keys)];
                if (random.Next(2) == 0)
                {
                    Assert.True(cache.TryAdd(key, Response(bodyBytes: random.Next(0, 400)), Hour));
                }
                else
                {
                    cache.TryGet(key, out _);
                    Interlocked.Increment(ref gets);
                }
            }
        })));

        var present = new List<CachedResponse>();
        foreach (var key in keys)
        {
            if (cache.TryGet(key, out var response))
            {
                present.Add(response);
            }
        }

        Assert.True(cache.Evictions > 0);
        Assert.InRange(present.Count, 1, Keys - 1);
        Assert.Equal(present.Count, cache.Count);
        Assert.Equal(present.Sum(r => r.SizeBytes), cache.SizeBytes);
        Assert.InRange(cache.SizeBytes, 1, cache.Options.MaxBytes);
        Assert.Equal(gets + Keys, cache.Hits + cache.Misses);
    }
}
