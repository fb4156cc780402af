using Tollgate.Core.Redis;

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
    [InlineData("http://cache:6379", "the scheme must be redis:// or rediss://, not http://")]
    [InlineData("cache:6379", "the scheme must be redis:// or rediss://, not no scheme")]
    [InlineData("redis://@cache:6379", "the user before '@' is empty")]
    [InlineData("redis://meter:@cache:6379", "the password after ':' is empty")]
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

    [Theory]
    [InlineData("redis://tollgate-meter:s3cret@cache:6379/2", "tollgate-meter", "s3cret", false)]
    [InlineData("rediss://:s3cret@cache", null, "s3cret", true)]
    [InlineData("REDISS://reader@cache:6380", "reader", null, true)]
    [InlineData("redis://us%40er:p%3Ass@w%2Frd@cache", "us@er", "p:ss@w/rd", false)]
    public void Credentials_and_tls_are_parsed(string text, string? user, string? password, bool tls)
    {
        var address = RedisLedgerAddress.Parse(text);
        Assert.Equal(("cache", user, password, tls), (address.Host, address.User, address.Password, address.Tls));
    }

    [Theory]
    [InlineData("redis://tollgate-meter:s3cret@cache:6379/2", "redis://tollgate-meter:***@cache:6379/2")]
    [InlineData("rediss://:s3cret@cache", "rediss://:***@cache:6379/0")]
    [InlineData("rediss://reader@cache", "rediss://reader@cache:6379/0")]
    [InlineData("redis://a:s3cret@w@cache", "redis://a:***@cache:6379/0")]
    public void Address_prints_without_its_password(string text, string printed)
    {
        Assert.Equal(printed, RedisLedgerAddress.Parse(text).ToString());
        Assert.Equal(printed, new RedisLedgerOptions { Address = RedisLedgerAddress.Parse(text) }.ToString());
    }

    [Theory]
    [InlineData("redis://u:s3cret@cache:6379", "redis://u:***@cache:6379")]
    [InlineData("rediss://:s3cret@cache", "rediss://:***@cache")]
    [InlineData("redis://u:s3cret@", "redis://u:***@")]
    [InlineData("redis://u:s3c@ret@ca che:x", "redis://u:***@ca che:x")]
    [InlineData("redis://cache:6379", "redis://cache:6379")]
    [InlineData("redis://user@cache:6379", "redis://user@cache:6379")]
    [InlineData(".tollgate/ledger.jsonl", ".tollgate/ledger.jsonl")]
    public void Redact_masks_the_password_of_any_text(string text, string redacted) =>
        Assert.Equal(redacted, RedisLedgerAddress.Redact(text));

    [Theory]
    [InlineData("redis://u:s3cret@ca che:6379")]
    [InlineData("redis://u:s3cret@cache:abc")]
    [InlineData("http://u:s3cret@cache")]
    [InlineData("redis://u:s3cret@cache:6379?x=1")]
    public void Malformed_address_with_a_password_is_refused_without_repeating_it(string text)
    {
        var error = Assert.Throws<FormatException>(() => RedisLedgerAddress.Parse(text));
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Address_prints_as_a_url() =>
        Assert.Equal("redis://[::1]:7000/2", new RedisLedgerAddress("::1", 7000, 2).ToString());
}
