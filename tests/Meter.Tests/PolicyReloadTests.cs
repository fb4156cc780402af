using System.Net;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

public sealed class PolicyReloadTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string Generous = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: reloadable }
        spec: { limit: { amount: 1000000, unit: tokens, period: day } }
        """;

    [Fact]
    public async Task Policy_change_takes_effect_without_a_restart_and_a_bad_change_keeps_the_last_good_policy()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Generous);
        using (var first = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-fake-usage", "input=10,output=10"))))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // Tighten the budget below what was already spent: the next request must be blocked.
        await File.WriteAllTextAsync(meter.PolicyPath, Generous.Replace("1000000", "5", StringComparison.Ordinal));
        var reloaded = await AccountingTests.WaitForAsync(meter, s => s.Sum("tollgate_policy_reloads_total", ("result", "success")) >= 1);
        Assert.Equal(5, reloaded.Sum("tollgate_budget_limit", ("budget", "reloadable")));
        using (var blocked = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags())))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        }

        // A broken edit is rejected and the tight budget stays in force.
        await File.WriteAllTextAsync(meter.PolicyPath, Generous.Replace("period: day", "period: someday", StringComparison.Ordinal));
        var scrape = await AccountingTests.WaitForAsync(meter, s => s.Sum("tollgate_policy_reloads_total", ("result", "failure")) >= 1);
        Assert.Equal(1, scrape.Sum("tollgate_policy_reloads_total", ("result", "failure")));
        using (var stillBlocked = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags())))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, stillBlocked.StatusCode);
        }

        Assert.Equal(5, scrape.Sum("tollgate_budget_limit", ("budget", "reloadable")));
    }
}
