using Tollgate.Core.Events;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;
using Tollgate.Cli.Audit;

namespace Tollgate.Cli.Tests.Audit;

public sealed class BacktestFallbackTests
{
    private const string Policy = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: gpt4o-daily }
        spec:
          match: { models: ["gpt-4o"] }
          limit: { amount: 1000, unit: tokens, period: day }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: cheaper-when-spent }
        spec:
          match: { models: ["gpt-4o"] }
          route:
            targets: [{ provider: openai, model: gpt-4o }]
          fallback: { onBudgetExceeded: { model: gpt-4o-mini } }
        """;

    [Fact]
    public async Task A_blocked_request_falls_back_to_the_rules_cheaper_model_and_is_counted()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("tollgate-audit-").FullName, "policy.yaml");
        await File.WriteAllTextAsync(path, Policy);
        var backtester = new Backtester(PolicyLoader.LoadSnapshot(path), PricingCatalog.LoadEmbedded());
        var start = new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

        var decisions = new List<ReplayDecision>();
        for (var i = 0; i < 3; i++)
        {
            var e = new UsageEvent($"f{i}", start.AddMinutes(i), string.Empty, new Dictionary<string, string> { ["team"] = "payments" }, "openai", "gpt-4o", false,
                new TokenUsage(600, 100, 0, 0, 0), false, 0.0025m, 1, null, "ok", 200, []);
            decisions.Add(await backtester.ReplayAsync(e, CancellationToken.None));
        }

        Assert.Equal([ReplayDecision.Allowed, ReplayDecision.Allowed, ReplayDecision.FallbackModel], decisions);
        var scope = Assert.Single(backtester.Report("test", [], 0).Scopes);
        Assert.Equal(1, scope.Fallbacks);
        Assert.Equal(0, scope.Blocked);
        Assert.Equal(1400m, scope.Spend);
    }
}
