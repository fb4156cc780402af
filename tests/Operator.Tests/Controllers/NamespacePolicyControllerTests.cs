using Tollgate.Core.Policy;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

public sealed class NamespacePolicyControllerTests
{
    [Fact]
    public async Task A_labelled_namespace_gets_a_policy_ConfigMap_with_exactly_its_budgets_and_rules_and_a_checksum()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        await cluster.ApplyBudgetAsync(Budget("other-team", 10, ["ci-other"]));
        await cluster.ApplyBudgetAsync(Budget("everyone", 500));
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await cluster.LabelNamespaceAsync("ci-other", metered: false);
        await cluster.ApplyRuleAsync(Rule("cheap", "ci-payments", "claude-haiku-4-5"));
        await cluster.ApplyRuleAsync(Rule("global", OperatorNamespace, "claude-sonnet-4-5"));
        await cluster.ApplyRuleAsync(Rule("elsewhere", "ci-other", "gpt-4o-mini"));

        var configMap = await EventuallyAsync(
            () => cluster.PolicyConfigMap("ci-payments"),
            cm => PolicyYaml(cm) is { } yaml && PolicyLoader.Parse("p", yaml) is var d && d.Budgets.Count == 2 && d.RoutingRules.Count == 2,
            "the policy of ci-payments");

        var yaml = PolicyYaml(configMap)!;
        var documents = PolicyLoader.Parse("policy.yaml", yaml);
        Assert.Equal(["everyone", "payments-daily"], documents.Budgets.Select(b => b.Metadata.Name));
        Assert.Equal(["ci-payments/cheap", $"{OperatorNamespace}/global"], documents.RoutingRules.Select(r => $"{r.Metadata.NamespaceProperty}/{r.Metadata.Name}"));
        Assert.Equal(50m, documents.Budgets.Single(b => b.Metadata.Name == "payments-daily").Spec.Limit.Amount);
        Assert.DoesNotContain("status", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("resourceVersion", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("uid", yaml, StringComparison.Ordinal);
        Assert.Equal(
            global::Tollgate.Operator.Controllers.PolicyRenderer.Checksum(yaml),
            configMap!["metadata"]!["annotations"]!["tollgate.io/policy-checksum"]!.GetValue<string>());
        Assert.Null(cluster.PolicyConfigMap("ci-other"));
    }

    [Fact]
    public async Task An_unchanged_policy_is_not_written_again_and_a_changed_budget_is()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await EventuallyAsync(() => cluster.PolicyConfigMap("ci-payments"), cm => cm is not null, "the policy ConfigMap");

        // Let the budget's own status writes settle, then make the operator look again at everything.
        await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["observedGeneration"] is not null, "the budget status");
        cluster.Api.ClearRequests();
        await cluster.LabelNamespaceAsync("ci-payments", metered: true, new() { ["touched"] = "yes" });
        await EventuallyAsync(() => cluster.Api.Requests.Count(IsPolicyRead), n => n >= 1, "a read of the policy after the touch");

        // One pass at a time per controller: a read after a second touch comes after every write the first pass could make.
        var reads = cluster.Api.Requests.Count(IsPolicyRead);
        await cluster.LabelNamespaceAsync("ci-payments", metered: true, new() { ["touched"] = "again" });
        await EventuallyAsync(() => cluster.Api.Requests.Count(IsPolicyRead), n => n > reads, "a read of the policy after the second touch");
        Assert.DoesNotContain(cluster.Api.Requests, r => r.Path.Contains("/namespaces/ci-payments/configmaps", StringComparison.Ordinal) && r.Verb is "update" or "patch" or "create");

        await cluster.UpdateBudgetAsync("payments-daily", b => b["spec"]!["limit"]!["amount"] = 75);
        var updated = await EventuallyAsync(
            () => PolicyYaml(cluster.PolicyConfigMap("ci-payments")),
            yaml => yaml is not null && PolicyLoader.Parse("p", yaml).Budgets.Single().Spec.Limit.Amount == 75m,
            "the updated budget in the policy");
        Assert.Contains("amount: 75", updated, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unlabelling_a_namespace_deletes_its_policy_ConfigMap()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await EventuallyAsync(() => cluster.PolicyConfigMap("ci-payments"), cm => cm is not null, "the policy ConfigMap");

        await cluster.LabelNamespaceAsync("ci-payments", metered: false);

        await EventuallyAsync(() => cluster.PolicyConfigMap("ci-payments"), cm => cm is null, "the ConfigMap to be deleted");
    }

    [Fact]
    public async Task An_invalid_budget_gets_Ready_False_with_the_message_and_the_last_good_policy_stays()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        var good = await EventuallyAsync(() => PolicyYaml(cluster.PolicyConfigMap("ci-payments")), y => y?.Contains("payments-daily", StringComparison.Ordinal) == true, "the good policy");

        await cluster.UpdateBudgetAsync("payments-daily", b => b["spec"]!["limit"]!["unit"] = "euros");

        var budget = await EventuallyAsync(
            () => cluster.BudgetObject("payments-daily"),
            b => b?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "False") == true,
            "Ready=False on the invalid budget");
        var ready = budget!["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
        Assert.Equal("Invalid", ready["reason"]!.GetValue<string>());
        Assert.Contains("euros", ready["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(good, PolicyYaml(cluster.PolicyConfigMap("ci-payments")));
    }

    [Fact]
    public async Task A_conflicting_ConfigMap_update_is_retried_until_it_succeeds()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await EventuallyAsync(() => cluster.PolicyConfigMap("ci-payments"), cm => cm is not null, "the policy ConfigMap");
        cluster.Api.FailNext("update", "/api/v1/namespaces/ci-payments/configmaps", 409, times: 2);

        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));

        await EventuallyAsync(() => PolicyYaml(cluster.PolicyConfigMap("ci-payments")), y => y?.Contains("payments-daily", StringComparison.Ordinal) == true, "the budget after the conflicts");
        Assert.Equal(2, cluster.Api.Requests.Count(r => r.Verb == "update" && r.Path.Contains("/configmaps", StringComparison.Ordinal) && r.StatusCode == 409));
    }

    private static bool IsPolicyRead(TestSupport.FakeKubernetes.FakeKubernetesRequest request) =>
        request.Verb == "get" && request.Path == "/api/v1/namespaces/ci-payments/configmaps/tollgate-policy";
}

public sealed class NamespaceSelectionTests
{
    [Fact]
    public async Task A_budget_with_a_namespace_selector_applies_only_to_namespaces_whose_labels_match()
    {
        await using var cluster = await StartAsync();
        var host = await cluster.StartOperatorAsync();
        var budget = Budget("team-a", 20);
        budget["spec"]!["match"]!["namespaceSelector"] = new System.Text.Json.Nodes.JsonObject
        {
            ["matchLabels"] = new System.Text.Json.Nodes.JsonObject { ["team"] = "a" },
        };
        await cluster.ApplyBudgetAsync(budget);
        await cluster.LabelNamespaceAsync("ci-a", metered: true, new() { ["team"] = "a" });
        await cluster.LabelNamespaceAsync("ci-b", metered: true, new() { ["team"] = "b" });

        await EventuallyAsync(() => PolicyYaml(cluster.PolicyConfigMap("ci-a")), y => y?.Contains("team-a", StringComparison.Ordinal) == true, "the budget in ci-a");
        var other = await EventuallyAsync(() => PolicyYaml(cluster.PolicyConfigMap("ci-b")), y => y is not null, "the policy of ci-b");
        Assert.Equal(string.Empty, other);

        var lookup = await host.NamespaceLookup.FindAsync("ci-a", CancellationToken.None);
        Assert.True(lookup!.IsMetered);
        Assert.Equal("a", lookup.Labels["team"]);
        Assert.Null(await host.NamespaceLookup.FindAsync("no-such-namespace", CancellationToken.None));
    }

    [Fact]
    public async Task The_webhooks_lookup_names_the_key_secrets_of_the_namespaces_and_the_operator_namespaces_rules()
    {
        await using var cluster = await StartAsync();
        var host = await cluster.StartOperatorAsync();
        await cluster.LabelNamespaceAsync("ci-a", metered: true);
        var own = Rule("own", "ci-a", "claude-haiku-4-5");
        own["spec"]!["route"]!["targets"]![0]!["apiKeySecretRef"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "anthropic-ci", ["key"] = "apiKey" };
        var shared = Rule("shared", OperatorNamespace, "gpt-4o-mini");
        shared["spec"]!["route"]!["targets"]![0]!["provider"] = "openai";
        shared["spec"]!["route"]!["targets"]![0]!["apiKeySecretRef"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "openai-ci", ["key"] = "apiKey" };
        var elsewhere = Rule("elsewhere", "ci-b", "claude-haiku-4-5");
        elsewhere["spec"]!["route"]!["targets"]![0]!["apiKeySecretRef"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "not-mine", ["key"] = "apiKey" };
        await cluster.LabelNamespaceAsync("ci-b", metered: true);
        await cluster.ApplyRuleAsync(own);
        await cluster.ApplyRuleAsync(shared);
        await cluster.ApplyRuleAsync(elsewhere);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        var lookup = await host.NamespaceLookup.FindAsync("ci-a", CancellationToken.None);
        while (lookup?.RouteSecrets.Count != 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            lookup = await host.NamespaceLookup.FindAsync("ci-a", CancellationToken.None);
        }

        Assert.Equal(["anthropic-ci", "openai-ci"], lookup!.RouteSecrets);
    }
}
