using System.Diagnostics;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// Issue 16 item 3: a rotated ledger password is used at the next (re)connect, without a restart. A real redis-server
/// with ACL users (and TLS when the build has it); each test rotates a user of its own, so the shipped users stay put.
/// </summary>
public sealed class RedisLedgerRotationTests(SecuredRedisServerFixture fixture) : IClassFixture<SecuredRedisServerFixture>
{
    private readonly RedisServerFixture _redis = fixture.Server;

    [Fact]
    public async Task Rotated_password_file_is_used_after_the_connection_is_killed()
    {
        var user = "tollgate-rotation-" + Guid.NewGuid().ToString("N")[..8];
        await using var folder = new TemporaryFolder();
        var passwordFile = Path.Combine(folder.Path, "password");
        await File.WriteAllTextAsync(passwordFile, "old-" + user + "\n", CancellationToken.None);
        Assert.Equal("+OK", await _redis.SendAsync("ACL", "SETUSER", user, "on", ">old-" + user, "~*", "&*", "+@all"));

        var options = new RedisLedgerSettings(_redis.Address, user, passwordFile, CaFile()).ToOptions(RedisLedgerAccess.ReadWrite);
        await using var ledger = await OwnedRedisLedger.ConnectAsync(options, TimeProvider.System, CancellationToken.None);
        Assert.True(ledger.IsReady, ledger.AccessDenied);
        await ReserveAsync(ledger, "before");

        // The rotation an operator does: both passwords valid, the Secret rewritten, then the old one dropped.
        Assert.Equal("+OK", await _redis.SendAsync("ACL", "SETUSER", user, ">new-" + user));
        await File.WriteAllTextAsync(passwordFile, "new-" + user + "\n", CancellationToken.None);
        Assert.Equal("+OK", await _redis.SendAsync("ACL", "SETUSER", user, "<old-" + user));
        Assert.StartsWith("-WRONGPASS", await _redis.SendAsAsync(user, "old-" + user, "PING"), StringComparison.Ordinal);

        // Connections already authenticated stay so; a reconnect must authenticate with what the file holds now.
        Assert.StartsWith(":", await _redis.SendAsync("CLIENT", "KILL", "USER", user), StringComparison.Ordinal);
        await EventuallyAsync(async () => await TryReserveAsync(ledger, "after"), "the ledger reconnects with the new password");
        await EventuallyAsync(() => Task.FromResult(ledger.IsReady), "the ledger reports ready again (its access re-checked)");
    }

    [Fact]
    public async Task Credential_source_is_asked_at_every_connect()
    {
        var user = "tollgate-source-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal("+OK", await _redis.SendAsync("ACL", "SETUSER", user, "on", ">first-" + user, "~*", "&*", "+@all"));
        var source = new SwitchableCredentials(new RedisLedgerCredential(user, "first-" + user));
        var options = RedisLedgerOptions.FromUrl(_redis.Address) with
        {
            Credentials = source,
            CaFile = CaFile(),
        };
        await using var ledger = await OwnedRedisLedger.ConnectAsync(options, TimeProvider.System, CancellationToken.None);
        Assert.True(ledger.IsReady, ledger.AccessDenied);
        var asked = source.Asked;

        Assert.Equal("+OK", await _redis.SendAsync("ACL", "SETUSER", user, "resetpass", ">second-" + user));
        source.Credential = new RedisLedgerCredential(user, "second-" + user);
        Assert.StartsWith(":", await _redis.SendAsync("CLIENT", "KILL", "USER", user), StringComparison.Ordinal);

        await EventuallyAsync(async () => await TryReserveAsync(ledger, "after-switch"), "the ledger reconnects with the source's new credential");
        Assert.True(source.Asked > asked);
    }

    [Fact]
    public void Password_file_keeps_the_last_good_password_while_the_file_is_unreadable()
    {
        var path = Path.Combine(Path.GetTempPath(), "tollgate-password-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "one\n");
        var source = new RedisLedgerPasswordFile("tollgate-meter", path);
        File.WriteAllText(path, "two");
        Assert.Equal(new RedisLedgerCredential("tollgate-meter", "two"), source.Current);

        File.Delete(path);
        Assert.Equal("two", source.Current.Password);
        Assert.Contains(path, source.LastProblem, StringComparison.Ordinal);
        Assert.DoesNotContain("two", source.Current.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_with_a_password_file_carry_it_as_a_credential_source()
    {
        var path = Path.Combine(Path.GetTempPath(), "tollgate-password-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "one\n");
        try
        {
            var options = new RedisLedgerSettings("redis://cache", "tollgate-exporter", path).ToOptions(RedisLedgerAccess.Read);
            File.WriteAllText(path, "rotated\n");

            Assert.Equal(new RedisLedgerCredential("tollgate-exporter", "rotated"), Assert.IsType<RedisLedgerPasswordFile>(options.Credentials).Current);
            Assert.Null(new RedisLedgerSettings("redis://u:p@cache").ToOptions(RedisLedgerAccess.Read).Credentials);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // The ledgers here run on the real clock (the access re-check after a reconnect waits on it), so the charge is dated by it too.
    private static Task<ReserveResult> ReserveAsync(OwnedRedisLedger ledger, string id) =>
        ledger.ReserveAsync(id + Guid.NewGuid().ToString("N"),
            [new LedgerCharge("rotation", "x", PeriodWindow.Containing(BudgetPeriod.Day, TimeProvider.System.GetUtcNow()), 1000m, 1m, CanBlock: true)],
            CancellationToken.None).AsTask();

    private static async Task<bool> TryReserveAsync(OwnedRedisLedger ledger, string id)
    {
        try
        {
            await ReserveAsync(ledger, id);
            return true;
        }
        catch (LedgerUnavailableException)
        {
            return false;
        }
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"expected: {what} within 20 s");

            // Waiting on another process (Redis, the client's reconnect loop); there is no event to await.
            await Task.Delay(25);
        }
    }

    private string? CaFile() => _redis.Tls ? _redis.WriteCaFile() : null;

    private sealed class SwitchableCredentials(RedisLedgerCredential initial) : IRedisLedgerCredentials
    {
        private int _asked;

        public RedisLedgerCredential Credential { get; set; } = initial;

        public int Asked => Volatile.Read(ref _asked);

        public RedisLedgerCredential Current
        {
            get
            {
                Interlocked.Increment(ref _asked);
                return Credential;
            }
        }
    }

    private sealed class TemporaryFolder : IAsyncDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tollgate-rotation-").FullName;

        public ValueTask DisposeAsync()
        {
            Directory.Delete(Path, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}
