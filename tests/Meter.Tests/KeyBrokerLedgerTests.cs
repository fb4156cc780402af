using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Issue 16 item 3 in broker mode: the meter's Redis user and password come from the key broker's <c>ledger</c> field
/// (no password file, none in the address), against a real redis-server with the shipped ACL users (TLS when the build
/// has it), and a password the broker rotates is used at the next reconnect. This class rotates tollgate-meter's
/// password, so it has a redis-server of its own.
/// </summary>
public sealed class KeyBrokerLedgerTests(UpstreamFixture fixture, SecuredRedisServerFixture secured)
    : IClassFixture<UpstreamFixture>, IClassFixture<SecuredRedisServerFixture>, IAsyncLifetime
{
    private const string Meter = "tollgate-meter";

    private const string Policy = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: payments-closed }
        spec: { match: { subjects: ["team:payments"] }, failurePolicy: closed, limit: { amount: 1000000000, unit: tokens, period: month } }
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-broker-ledger-").FullName;
    private readonly TestCertificateAuthority _authority = TestCertificateAuthority.Create();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private FakeKeyBroker _broker = null!;

    private RedisServerFixture Redis => secured.Server;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "token"), "projected-token");
        _authority.WritePem(Path.Combine(_directory, "broker-ca.crt"));
        _broker = await FakeKeyBroker.StartAsync(_authority, "projected-token");
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _authority.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Ledger_credentials_come_from_the_broker_and_a_rotated_password_is_used_after_a_reconnect()
    {
        var original = Redis.PasswordOf(Meter);
        _broker.SetAnswer(FakeKeyBroker.Answer(ledger: (Meter, original)));
        await using var meter = await StartAsync();
        var refresher = meter.App.Services.GetRequiredService<KeyBrokerRefresher>();
        var wait = await refresher.AttemptAsync(1);

        // Until the broker's first answer the ledger connected without credentials and was refused; it retries.
        await EventuallyAsync(async () => (await meter.Admin.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "the meter is ready with the broker's ledger credentials");
        Assert.Equal(HttpStatusCode.OK, await SendAsync(meter));

        var rotated = "rotated-" + Guid.NewGuid().ToString("N");
        Assert.Equal("+OK", await Redis.SendAsync("ACL", "SETUSER", Meter, ">" + rotated));
        _broker.SetAnswer(FakeKeyBroker.Answer(ledger: (Meter, rotated)));
        _time.Advance(wait.Delay);
        Assert.Equal("ok", (await refresher.AttemptAsync(2)).Outcome);
        Assert.Equal("+OK", await Redis.SendAsync("ACL", "SETUSER", Meter, "<" + original));
        Assert.StartsWith(":", await Redis.SendAsync("CLIENT", "KILL", "USER", Meter), StringComparison.Ordinal);

        await EventuallyAsync(async () => await SendAsync(meter) == HttpStatusCode.OK, "the meter's ledger reconnects with the rotated password");
        await EventuallyAsync(async () => (await meter.Admin.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "the meter is ready again");
        var metrics = await meter.Admin.GetStringAsync("/metrics");
        Assert.DoesNotContain(rotated, metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(original, metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_password_file_wins_over_the_brokers_ledger_credentials()
    {
        var user = "tollgate-own-" + Guid.NewGuid().ToString("N")[..8];
        var password = "own-" + Guid.NewGuid().ToString("N");
        Assert.Equal("+OK", await Redis.SendAsync("ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all"));
        var passwordFile = Path.Combine(_directory, "ledger-password");
        await File.WriteAllTextAsync(passwordFile, password + "\n");
        _broker.SetAnswer(FakeKeyBroker.Answer(ledger: (Meter, "not-the-password")));

        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Policy, configure: o => Broker(o) with { LedgerUser = user, LedgerPasswordFile = passwordFile }, time: _time);
        await meter.App.Services.GetRequiredService<KeyBrokerRefresher>().AttemptAsync(1);

        await EventuallyAsync(async () => (await meter.Admin.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "the meter is ready with its own password file");
        Assert.Equal(HttpStatusCode.OK, await SendAsync(meter));
    }

    private static async Task<HttpStatusCode> SendAsync(MeterHarness meter)
    {
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(team: "payments"),
            ("x-fake-usage", "input=10,output=20")));
        return response.StatusCode;
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"expected: {what} within 30 s");

            // Waiting on another process (Redis, the client's reconnect loop); there is no event to await.
            await Task.Delay(50);
        }
    }

    private Task<MeterHarness> StartAsync() => MeterHarness.StartAsync(fixture.Upstream, Policy, configure: Broker, time: _time);

    private MeterOptions Broker(MeterOptions o) =>
        o with
        {
            SpoolPath = o.Ledger + ".spool",
            Ledger = Redis.Address + "/5",
            LedgerCaPath = Redis.Tls ? Redis.WriteCaFile() : null,
            ApiKeys = new Dictionary<string, string>(),
            KeyBroker = _broker.Uri,
            KeyBrokerTokenPath = Path.Combine(_directory, "token"),
            KeyBrokerCaPath = Path.Combine(_directory, "broker-ca.crt"),
        };
}
