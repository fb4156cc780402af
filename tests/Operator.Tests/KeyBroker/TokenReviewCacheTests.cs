using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Operator.KeyBroker;

namespace Tollgate.Operator.Tests.KeyBroker;

public sealed class TokenReviewCacheTests
{
    private static readonly MeterIdentity Identity = new("ci-payments", "runner", "job-1", "uid-1");

    [Fact]
    public void A_review_is_kept_until_the_earlier_of_the_ttl_and_the_tokens_expiry()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));
        var cache = new TokenReviewCache(time, Options.Create(new KeyBrokerOptions()));

        cache.Add("long-lived", Identity, time.GetUtcNow().AddHours(1));
        cache.Add("short-lived", Identity, time.GetUtcNow().AddSeconds(10));
        cache.Add("no-exp", Identity, null);
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(Identity, cache.TryGet("long-lived"));
        Assert.Null(cache.TryGet("short-lived"));
        Assert.Null(cache.TryGet("no-exp"));
        time.Advance(TimeSpan.FromSeconds(50));
        Assert.Null(cache.TryGet("long-lived"));
    }

    [Fact]
    public void A_full_cache_drops_expired_entries_and_otherwise_caches_nothing_more()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));
        var cache = new TokenReviewCache(time, Options.Create(new KeyBrokerOptions { ReviewCacheCapacity = 2 }));
        var soon = time.GetUtcNow().AddSeconds(5);

        cache.Add("a", Identity, soon);
        cache.Add("b", Identity, time.GetUtcNow().AddHours(1));
        cache.Add("c", Identity, time.GetUtcNow().AddHours(1));
        time.Advance(TimeSpan.FromSeconds(6));
        cache.Add("d", Identity, time.GetUtcNow().AddHours(1));

        Assert.Null(cache.TryGet("c"));
        Assert.Equal(Identity, cache.TryGet("d"));
        Assert.Equal(2, cache.Count);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("a.b.c")]
    [InlineData("e30.e30.sig")]
    public void Tokens_without_a_readable_exp_have_no_expiry(string token) =>
        Assert.Null(TokenReviewer.ExpiryOf(token));

    [Fact]
    public void The_exp_claim_of_a_jwt_is_read()
    {
        var claims = Convert.ToBase64String(Encoding.UTF8.GetBytes("""{"exp":1772442000,"aud":["tollgate.io/meter"]}""")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1772442000), TokenReviewer.ExpiryOf($"e30.{claims}.sig"));
    }
}
