using System.Net.Security;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Usage;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// Issue 16: a job cannot touch the ledger. A real redis-server runs with the shipped <c>config/redis/users.acl</c> (and
/// TLS only, when the build has it); each component works with its own user and is refused everything else.
/// </summary>
public sealed class RedisLedgerAclTests(SecuredRedisServerFixture fixture) : IClassFixture<SecuredRedisServerFixture>
{
    private const string Meter = "tollgate-meter";
    private const string Exporter = "tollgate-exporter";
    private const string Operator = "tollgate-operator";
    private const string Prefix = RedisLedgerOptions.DefaultKeyPrefix;

    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly PeriodWindow Today = PeriodWindow.Containing(BudgetPeriod.Day, Noon);

    private readonly RedisServerFixture _redis = fixture.Server;

    [Fact]
    public void Server_serves_tls_when_the_build_has_it() =>
        // Debian's and Ubuntu's redis-server are built with TLS; were this one not, the ACL tests below still run over TCP.
        Assert.True(_redis.Tls, "this redis-server has no TLS; the ACL tests ran over plain TCP");

    [Fact]
    public async Task Client_without_credentials_is_refused_every_command()
    {
        foreach (var command in new[] { new[] { "GET", Prefix + "c:x" }, ["FLUSHALL"], ["KEYS", "*"], ["XRANGE", Prefix + "usage", "-", "+"] })
        {
            Assert.StartsWith("-NOAUTH", await _redis.SendAsAsync(null, null, command), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("default", "")]
    [InlineData("default", "tollgate")]
    [InlineData(Meter, "wrong")]
    [InlineData(Meter, "")]
    public async Task Default_user_and_wrong_passwords_are_refused(string user, string password) =>
        Assert.StartsWith("-WRONGPASS", await _redis.SendAsAsync(user, password, "PING"), StringComparison.Ordinal);

    [Theory]
    [InlineData(Meter, "FLUSHALL")]
    [InlineData(Meter, "FLUSHDB")]
    [InlineData(Meter, "CONFIG", "SET", "appendonly", "no")]
    [InlineData(Meter, "CONFIG", "GET", "requirepass")]
    [InlineData(Meter, "ACL", "LIST")]
    [InlineData(Meter, "KEYS", "*")]
    [InlineData(Meter, "SCAN", "0")]
    [InlineData(Meter, "MONITOR")]
    [InlineData(Meter, "CLIENT", "KILL", "TYPE", "normal")]
    [InlineData(Meter, "SHUTDOWN")]
    [InlineData(Meter, "DEL", Prefix + "exporter:default")]
    [InlineData(Meter, "SET", Prefix + "exporter:default", "{}")]
    [InlineData(Meter, "DEL", "other-app:data")]
    [InlineData(Meter, "XGROUP", "DESTROY", Prefix + "usage", "tollgate-exporter")]
    [InlineData(Meter, "XTRIM", Prefix + "usage", "MAXLEN", "0")]
    [InlineData(Meter, "SUBSCRIBE", "anything")]
    [InlineData(Exporter, "XADD", Prefix + "usage", "*", "id", "forged")]
    [InlineData(Exporter, "DEL", Prefix + "usage")]
    [InlineData(Exporter, "SET", Prefix + "c:budget:scope:0", "0")]
    [InlineData(Exporter, "HSET", Prefix + "c:budget:scope:0", "spent", "0")]
    [InlineData(Exporter, "SET", Prefix + "index", "x")]
    [InlineData(Exporter, "FLUSHALL")]
    [InlineData(Operator, "HSET", Prefix + "c:budget:scope:0", "spent", "0")]
    [InlineData(Operator, "XRANGE", Prefix + "usage", "-", "+")]
    [InlineData(Operator, "GET", Prefix + "exporter:default")]
    [InlineData(Operator, "DEL", Prefix + "index")]
    public async Task Component_user_is_refused_commands_and_keys_outside_its_job(string user, params string[] command) =>
        Assert.StartsWith("-NOPERM", await _redis.SendAsAsync(user, _redis.PasswordOf(user), command), StringComparison.Ordinal);

    [Theory]
    [InlineData(Meter, "return redis.call('DEL', KEYS[1])", Prefix + "exporter:default")]
    [InlineData(Meter, "return redis.call('FLUSHALL')", Prefix + "c:x")]
    [InlineData(Meter, "return redis.call('SET', 'other-app:data', 'x')", Prefix + "c:x")]
    [InlineData(Exporter, "return redis.call('HSET', KEYS[1], 'spent', '0')", Prefix + "index")]
    [InlineData(Exporter, "return redis.call('XADD', KEYS[1], '*', 'id', 'forged')", Prefix + "usage")]
    [InlineData(Operator, "return redis.call('ZADD', KEYS[1], '0', 'x')", Prefix + "index")]
    public async Task Script_runs_with_its_callers_permissions(string user, string script, string key)
    {
        var reply = await _redis.SendAsAsync(user, _redis.PasswordOf(user), "EVAL", script, "1", key);
        Assert.True(reply.StartsWith("-NOPERM", StringComparison.Ordinal) || reply.StartsWith("-ERR The user executing the script can't", StringComparison.Ordinal), reply);
    }

    [Fact]
    public async Task Meter_with_its_own_user_reserves_settles_appends_usage_and_counts_rate_limits()
    {
        var time = new FakeTimeProvider(Noon);
        await using var ledger = await ConnectAsync(Meter, RedisLedgerAccess.ReadWrite, time);
        Assert.True(ledger.IsReady, ledger.AccessDenied);

        var id = Guid.NewGuid().ToString("N");
        var budget = "acl-" + id;
        var reserved = await ledger.ReserveAsync(id, [new LedgerCharge(budget, "checkout", Today, 10m, 2m, CanBlock: true)], CancellationToken.None);
        Assert.Equal(-1, reserved.BlockingIndex);
        await ledger.SettleAsync(id, [new LedgerCharge(budget, "checkout", Today, 10m, 2m, CanBlock: true)], [1.5m], CancellationToken.None);

        var counter = Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None), c => c.Budget == budget);
        Assert.Equal((1.5m, 0m), (counter.Spent, counter.Reserved));

        await new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), time).AppendAsync(Event(id), CancellationToken.None);
        var limited = await new RedisRateLimiter(ledger.Connection).AcquireAsync([new RateLimitCharge("acl-" + id, 10, 1000)], Noon, CancellationToken.None);
        Assert.Equal(-1, limited.BlockingIndex);

        // Reclaim (the meters' job) is allowed too: nothing of this test's has expired at noon.
        Assert.Equal(0, await ledger.ReclaimExpiredAsync(Noon, CancellationToken.None));
    }

    [Fact]
    public async Task Exporter_with_its_own_user_consumes_the_stream_saves_its_state_and_reads_counters()
    {
        var time = new FakeTimeProvider(Noon);
        var id = Guid.NewGuid().ToString("N");
        await using (var meter = await ConnectAsync(Meter, RedisLedgerAccess.ReadWrite, time))
        {
            await new RedisUsageStream(meter.Connection, new UsageStreamOptions(), time).AppendAsync(Event(id), CancellationToken.None);
        }

        await using var ledger = await ConnectAsync(Exporter, RedisLedgerAccess.Read, time);
        Assert.True(ledger.IsReady, ledger.AccessDenied);
        var stream = RedisUsageStream.Reader(ledger.Connection, time);
        var group = "acl-" + id;
        await stream.EnsureGroupAsync(group, CancellationToken.None);
        var entries = await stream.ReadGroupAsync(group, "exporter-0", pending: false, 1000, CancellationToken.None);
        Assert.Contains(entries, e => e.Event?.RequestId == id);
        await stream.AcknowledgeAsync(group, [.. entries.Select(e => e.Id)], CancellationToken.None);
        await stream.SaveStateAsync(group, "{\"state\":1}", CancellationToken.None);
        Assert.Equal("{\"state\":1}", await stream.LoadStateAsync(group, CancellationToken.None));
        Assert.Contains(await stream.ReadAllAsync(CancellationToken.None), e => e.RequestId == id);
        _ = await ledger.SnapshotAsync(Noon, CancellationToken.None);
    }

    [Fact]
    public async Task Clients_of_each_component_connect_without_a_single_refusal()
    {
        // The client's handshake (CLIENT SETNAME, INFO, …) must fit the shipped users too, or every connect logs denials.
        Assert.Equal("+OK", await _redis.SendAsync("ACL", "LOG", "RESET"));
        var time = new FakeTimeProvider(Noon);
        await using (var meter = await ConnectAsync(Meter, RedisLedgerAccess.ReadWrite, time))
        await using (var exporter = await ConnectAsync(Exporter, RedisLedgerAccess.Read, time))
        await using (var status = await ConnectAsync(Operator, RedisLedgerAccess.Read, time))
        {
            Assert.True(meter.IsReady && exporter.IsReady && status.IsReady);
            _ = await meter.SnapshotAsync(Noon, CancellationToken.None);
            _ = await status.SnapshotAsync(Noon, CancellationToken.None);
        }

        Assert.Empty(await _redis.AclDenialsAsync());
    }

    [Fact]
    public async Task Operator_with_its_own_user_reads_counters()
    {
        await using var ledger = await ConnectAsync(Operator, RedisLedgerAccess.Read, new FakeTimeProvider(Noon));
        Assert.True(ledger.IsReady, ledger.AccessDenied);
        _ = await ledger.SnapshotAsync(Noon, CancellationToken.None);
    }

    [Theory]
    [InlineData(Exporter)]
    [InlineData(Operator)]
    public async Task Meter_with_another_components_user_is_not_ready_and_fails_with_a_named_error(string user)
    {
        await using var ledger = await ConnectAsync(user, RedisLedgerAccess.ReadWrite, new FakeTimeProvider(Noon));

        Assert.False(ledger.IsReady);
        Assert.Contains("NOPERM", ledger.AccessDenied, StringComparison.Ordinal);
        var id = Guid.NewGuid().ToString("N");
        var error = await Assert.ThrowsAsync<LedgerAccessDeniedException>(async () =>
            await ledger.ReserveAsync(id, [new LedgerCharge("acl", "x", Today, 10m, 1m, CanBlock: true)], CancellationToken.None));
        Assert.DoesNotContain(_redis.PasswordOf(user), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exporter_with_the_meters_user_cannot_read_the_stream()
    {
        await using var ledger = await ConnectAsync(Meter, RedisLedgerAccess.Read, new FakeTimeProvider(Noon));
        var stream = RedisUsageStream.Reader(ledger.Connection, new FakeTimeProvider(Noon));
        await Assert.ThrowsAsync<LedgerAccessDeniedException>(() => stream.EnsureGroupAsync("acl-meter", CancellationToken.None));
        await Assert.ThrowsAsync<LedgerAccessDeniedException>(() => stream.LoadStateAsync("default", CancellationToken.None));
    }

    [Fact]
    public async Task Wrong_password_leaves_the_ledger_not_ready_and_unavailable()
    {
        var password = Path.Combine(Path.GetTempPath(), "tollgate-acl-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(password, "not-the-password", CancellationToken.None);
        try
        {
            var options = new RedisLedgerSettings(_redis.Address, Meter, password, CaFile()).ToOptions(RedisLedgerAccess.ReadWrite);
            await using var ledger = await OwnedRedisLedger.ConnectAsync(options, new FakeTimeProvider(Noon), CancellationToken.None);

            Assert.False(ledger.IsReady);
            var error = await Assert.ThrowsAnyAsync<LedgerUnavailableException>(async () =>
                await ledger.ReserveAsync("x", [new LedgerCharge("acl", "x", Today, 10m, 1m, CanBlock: true)], CancellationToken.None));
            Assert.DoesNotContain("not-the-password", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(password);
        }
    }

    [Fact]
    public async Task Certificate_from_another_authority_is_refused_over_tls()
    {
        using var other = TestCertificateAuthority.Create();
        var ca = other.WritePem(Path.Combine(Path.GetTempPath(), "tollgate-other-ca-" + Guid.NewGuid().ToString("N") + ".pem"));
        try
        {
            var options = new RedisLedgerSettings(_redis.Address, Meter, _redis.WritePasswordFile(Meter), ca).ToOptions(RedisLedgerAccess.ReadWrite);
            await using var ledger = await OwnedRedisLedger.ConnectAsync(options, new FakeTimeProvider(Noon), CancellationToken.None);
            Assert.False(ledger.IsReady);
        }
        finally
        {
            File.Delete(ca);
        }
    }

    [Fact]
    public void Certificate_that_does_not_name_the_host_is_refused_even_from_the_pinned_authority()
    {
        using var ca = TestCertificateAuthority.Create();
        var authorities = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(ca.Certificate);

        Assert.True(RedisLedgerTls.IsTrusted(authorities, ca.ServerCertificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(RedisLedgerTls.IsTrusted(authorities, ca.ServerCertificate, null, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(RedisLedgerTls.IsTrusted(authorities, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
        using var other = TestCertificateAuthority.Create();
        Assert.False(RedisLedgerTls.IsTrusted(authorities, other.ServerCertificate, null, SslPolicyErrors.None));
    }

    private Task<OwnedRedisLedger> ConnectAsync(string user, RedisLedgerAccess access, TimeProvider time)
    {
        var options = new RedisLedgerSettings(_redis.Address, user, _redis.WritePasswordFile(user), CaFile()).ToOptions(access);
        return OwnedRedisLedger.ConnectAsync(options, time, CancellationToken.None);
    }

    private string? CaFile() => _redis.Tls ? _redis.WriteCaFile() : null;

    private static UsageEvent Event(string id) =>
        new(id, Noon, "ci-payments", new Dictionary<string, string> { ["team"] = "payments" }, "anthropic", "claude-sonnet-4-5", false,
            new TokenUsage(100, 10, 0, 0, 0), false, 0.01m, 0.5, null, "forwarded", 200, []);
}
