using Tollgate.Core.Ledger.Redis;

namespace Tollgate.Core.Tests.Ledger;

public sealed class RedisLedgerAddressTests
{
    [Theory]
    [InlineData("redis://127.0.0.1:6380", "127.0.0.1", 6380, 0)]
    [InlineData("redis://cache.internal", "cache.internal", 6379, 0)]
    [InlineData("redis://cache:6379/3", "cache", 6379, 3)]
    [InlineData("redis://cache:6379/", "cache", 6379, 0)]
    [InlineData("REDIS://[::1]:7000/1", "::1", 7000, 1)]
    [InlineData("  redis://redis-0.redis.tollgate.svc:6379  ", "redis-0.redis.tollgate.svc", 6379, 0)]
    public void Address_is_parsed(string text, string host, int port, int database) =>
        Assert.Equal(new RedisLedgerAddress(host, port, database), RedisLedgerAddress.Parse(text));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("http://cache:6379", "the scheme must be redis://, not http://")]
    [InlineData("cache:6379", "the scheme must be redis://, not no scheme")]
    [InlineData("rediss://cache:6379", "TLS (rediss://) is not supported")]
    [InlineData("redis://:6379", "the host is missing")]
    [InlineData("redis://ca che:6379", "the host 'ca che'")]
    [InlineData("redis://cache:abc", "the port 'abc'")]
    [InlineData("redis://cache:70000", "the port '70000'")]
    [InlineData("redis://cache:", "the port ''")]
    [InlineData("redis://cache:6379/db", "the database 'db'")]
    [InlineData("redis://cache:6379/0/1", "the database '0/1'")]
    [InlineData("redis://cache:6379?timeout=5", "'?timeout=5' is not supported")]
    [InlineData("redis://[::1:6379", "lacks its closing ']'")]
    public void Malformed_address_is_refused_naming_the_bad_part(string text, string problem)
    {
        var error = Assert.Throws<FormatException>(() => RedisLedgerAddress.Parse(text));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Password_in_the_address_is_refused_without_repeating_it()
    {
        var error = Assert.Throws<FormatException>(() => RedisLedgerAddress.Parse("redis://:s3cret@cache:6379"));
        Assert.Contains("password", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Address_prints_as_a_url() =>
        Assert.Equal("redis://[::1]:7000/2", new RedisLedgerAddress("::1", 7000, 2).ToString());
}
