using k8s;
using System.Text.Json.Nodes;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

public sealed class AiBudgetControllerTests
{
    [Fact]
    public async Task Budget_status_reports_spent_used_percent_and_state_from_the_ledger_with_the_observed_generation()
    {
        await using var cluster = await StartAsync();
        await cluster.SpendAsync("payments-daily", 46m, 50m);
        await cluster.StartOperatorAsync();

        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50));

        var budget = await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["spent"] is not null, "the budget status");
        var status = budget!["status"]!;
        Assert.Equal(46m, status["spent"]!.GetValue<decimal>());
        Assert.Equal(50m, status["limit"]!.GetValue<decimal>());
        Assert.Equal(92m, status["usedPercent"]!.GetValue<decimal>());
        Assert.Equal("Warning", status["state"]!.GetValue<string>());
        Assert.Equal(budget["metadata"]!["generation"]!.GetValue<long>(), status["observedGeneration"]!.GetValue<long>());
        Assert.Equal("True", Condition(budget, "Ready")["status"]!.GetValue<string>());

        // Refreshed without any change to the object: more spend shows up on the next periodic pass.
        await cluster.SpendAsync("payments-daily", 5m, 50m);
        var refreshed = await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["state"]?.GetValue<string>() == "Exceeded", "the refreshed status");
        Assert.Equal(51m, refreshed!["status"]!["spent"]!.GetValue<decimal>());
        Assert.Equal(102m, refreshed["status"]!["usedPercent"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task Periodic_refreshes_with_unchanged_spend_write_no_status()
    {
        await using var cluster = await StartAsync();
        await cluster.SpendAsync("payments-daily", 10m, 50m);
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50));
        await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["spent"] is not null, "the budget status");

        // Every pass starts by reading the budget and the loop runs one pass at a time: the second read from here on
        // means the pass that wrote the status, and the one after it, are done.
        cluster.Api.ClearRequests();
        await EventuallyAsync(() => BudgetReads(cluster), n => n >= 2, "a whole pass after the status write");
        cluster.Api.ClearRequests();

        await EventuallyAsync(() => BudgetReads(cluster), n => n >= 4, "three whole refresh passes");

        Assert.DoesNotContain(cluster.Api.Requests, r => r.Verb is "patch" or "update" or "create");
        Assert.Equal(20m, cluster.BudgetObject("payments-daily")!["status"]!["usedPercent"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task A_budget_gets_the_cleanup_finalizer_and_is_gone_after_delete_with_its_PrometheusRule()
    {
        await using var cluster = await StartAsync(prometheusOperator: true);
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50));
        await EventuallyAsync(
            () => cluster.BudgetObject("payments-daily"),
            b => b?["metadata"]?["finalizers"]?.AsArray().Any(f => f?.GetValue<string>() == "tollgate.io/cleanup") == true,
            "the finalizer");
        await EventuallyAsync(() => PrometheusRule(cluster), r => r is not null, "the PrometheusRule");

        await cluster.Client.CustomObjects.DeleteClusterCustomObjectAsync(Group, OperatorCluster.Version, "aibudgets", "payments-daily");

        await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b is null, "the budget to be gone");
        Assert.Null(PrometheusRule(cluster));
    }

    [Fact]
    public async Task With_the_Prometheus_Operator_CRD_a_PrometheusRule_carries_the_budget_thresholds()
    {
        await using var cluster = await StartAsync(prometheusOperator: true);
        await cluster.StartOperatorAsync();

        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, thresholds: [50, 90, 100]));

        var rule = await EventuallyAsync(() => PrometheusRule(cluster), r => r is not null, "the PrometheusRule");
        var rules = rule!["spec"]!["groups"]![0]!["rules"]!.AsArray();
        Assert.Equal(["50", "90", "100"], rules.Select(r => r!["labels"]!["threshold"]!.GetValue<string>()));
        Assert.Equal(["info", "warning", "critical"], rules.Select(r => r!["labels"]!["severity"]!.GetValue<string>()));
        Assert.All(rules, r => Assert.Equal("TollgateBudgetThreshold", r!["alert"]!.GetValue<string>()));
        Assert.Equal(
            "max by (budget, scope, unit, period) (tollgate_budget_used_ratio{budget=\"payments-daily\"}) >= 0.9",
            rules[1]!["expr"]!.GetValue<string>());
        var budget = await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["conditions"] is not null, "the conditions");
        Assert.Equal("True", Condition(budget!, "PrometheusRuleReady")["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Without_the_Prometheus_Operator_CRD_the_budget_says_CrdMissing()
    {
        await using var cluster = await StartAsync(prometheusOperator: false);
        await cluster.StartOperatorAsync();

        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50));

        var budget = await EventuallyAsync(
            () => cluster.BudgetObject("payments-daily"),
            b => b?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "PrometheusRuleReady") == true,
            "the PrometheusRuleReady condition");
        var condition = Condition(budget!, "PrometheusRuleReady");
        Assert.Equal("False", condition["status"]!.GetValue<string>());
        Assert.Equal("CrdMissing", condition["reason"]!.GetValue<string>());
        Assert.Equal("True", Condition(budget!, "Ready")["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Each_threshold_crossing_emits_one_Event_however_often_the_status_is_refreshed()
    {
        await using var cluster = await StartAsync();
        await cluster.SpendAsync("payments-daily", 40m, 50m);
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50));
        await EventuallyAsync(() => Events(cluster), e => e.Count == 1, "the 75% event");

        await cluster.SpendAsync("payments-daily", 8m, 50m);
        var events = await EventuallyAsync(() => Events(cluster), e => e.Count == 3, "the 90% and 95% events");

        // Several refresh passes later (a pass is over once the next one reads the budget): still one Event per threshold.
        var reads = BudgetReads(cluster);
        await EventuallyAsync(() => BudgetReads(cluster), n => n >= reads + 4, "three more whole refresh passes");
        events = Events(cluster);
        Assert.Equal(3, events.Count);

        // Remembered in status, not merely deduplicated by the Event's name: no pass even tried to create a fourth.
        Assert.Equal(3, cluster.Api.Requests.Count(r => r.Verb == "create" && r.Path == "/api/v1/namespaces/default/events"));
        var budget = cluster.BudgetObject("payments-daily")!;
        Assert.Equal("Threshold95", Condition(budget, "ThresholdCrossed")["reason"]!.GetValue<string>());
        var messages = events.Select(e => e["message"]!.GetValue<string>()).Order(StringComparer.Ordinal).ToList();
        Assert.Contains(messages, m => m.Contains("80", StringComparison.Ordinal) && m.Contains("threshold 75%", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("96", StringComparison.Ordinal) && m.Contains("threshold 90%", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("96", StringComparison.Ordinal) && m.Contains("threshold 95%", StringComparison.Ordinal));
        Assert.All(events, e => Assert.Equal("AiBudget", e["involvedObject"]!["kind"]!.GetValue<string>()));
    }

    private static int BudgetReads(OperatorCluster cluster) =>
        cluster.Api.Requests.Count(r => r.Verb == "get" && r.Path == $"/apis/{Group}/{OperatorCluster.Version}/aibudgets/payments-daily");

    private static JsonObject? PrometheusRule(OperatorCluster cluster) =>
        cluster.Api.Get("monitoring.coreos.com", "v1", "prometheusrules", OperatorNamespace, "tollgate-budget-payments-daily");

    private static List<JsonObject> Events(OperatorCluster cluster) =>
        [.. cluster.Api.Objects("", "v1", "events", "default").Where(e => e["reason"]?.GetValue<string>() == "BudgetThresholdCrossed")];

    private static JsonNode Condition(JsonObject budget, string type) =>
        budget["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == type)!;
}
