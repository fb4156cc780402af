using System.Net;
using System.Text.Json;
using Tollgate.Core.Events;
using Tollgate.Core.Redis;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Issue 16: the meter against a Redis as the cluster runs it, with the shipped ACL users and TLS only. With its own
/// user it meters; with another component's it is not ready and each budget's failure policy decides.
/// </summary>
[Trait(MeterProcess.ProcessTrait, "true")]
public sealed class SecuredLedgerTests(UpstreamFixture fixture, SecuredRedisServerFixture secured)
    : IClassFixture<UpstreamFixture>, IClassFixture<SecuredRedisServerFixture>
{
    private const string Policy = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: payments-closed }
        spec: { match: { subjects: ["team:payments"] }, failurePolicy: closed, limit: { amount: 1000000000, unit: tokens, period: month } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: search-open }
        spec: { match: { subjects: ["team:search"] }, failurePolicy: open, limit: { amount: 1000000000, unit: tokens, period: month } }
        """;

    private RedisServerFixture Redis => secured.Server;

    [Fact]
    public async Task Meter_with_its_own_user_over_tls_settles_requests_and_is_ready()
    {
        var address = Redis.Address + "/3";
        await using var meter = await StartAsync(address, "tollgate-meter");

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(team: "payments"),
            ("x-fake-usage", "input=10,output=20")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var id = response.Headers.GetValues("x-tollgate-request-id").Single();
        Assert.Equal("ready\n", await meter.Admin.GetStringAsync("/readyz"));

        // Read back as the exporter and the operator would, each with its own user.
        var exporter = new RedisLedgerSettings(address, "tollgate-exporter", Redis.WritePasswordFile("tollgate-exporter"), Redis.WriteCaFile()).ToOptions(RedisLedgerAccess.Read);
        // Real clock, like the meter that wrote them: the counter and the event are dated now.
        await using var ledger = await OwnedRedisLedger.ConnectAsync(exporter, TimeProvider.System, CancellationToken.None);
        var counter = Assert.Single(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
        Assert.Equal(("payments-closed", 30m, 0m), (counter.Budget, counter.Spent, counter.Reserved));
        var events = await RedisUsageStream.Reader(ledger.Connection, TimeProvider.System).ReadAllAsync(CancellationToken.None);
        Assert.Equal(id, Assert.Single(events).RequestId);
    }

    [Theory]
    [InlineData("tollgate-exporter")]
    [InlineData("tollgate-operator")]
    public async Task Meter_with_another_components_user_is_not_ready_and_applies_each_failure_policy(string user)
    {
        await using var meter = await StartAsync(Redis.Address + "/4", user);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await meter.Admin.GetAsync("/readyz")).StatusCode);
        using (var closed = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(team: "payments"))))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, closed.StatusCode);
            var text = await closed.Content.ReadAsStringAsync();
            using var error = JsonDocument.Parse(text);
            Assert.StartsWith("Budget \"payments-closed\" cannot be checked because the spend ledger is unavailable",
                error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain(Redis.PasswordOf(user), text, StringComparison.Ordinal);
        }

        using var open = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(team: "search")));
        Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        var metrics = await meter.Admin.GetStringAsync("/metrics");
        Assert.Contains("tollgate_ledger_ready 0", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(Redis.PasswordOf(user), metrics, StringComparison.Ordinal);
    }

    private Task<IMeterUnderTest> StartAsync(string address, string user) =>
        MeterUnderTest.StartAsync(fixture.Upstream, Policy, configure: o => o with
        {
            SpoolPath = o.Ledger + ".spool",
            Ledger = address,
            LedgerUser = user,
            LedgerPasswordFile = Redis.WritePasswordFile(user),
            LedgerCaPath = Redis.Tls ? Redis.WriteCaFile() : null,
        });
}
