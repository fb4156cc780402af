using System.Text.Json.Nodes;
using k8s;
using Tollgate.Core.Policy;
using Tollgate.Operator.Controllers;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

public sealed class ExporterPolicyControllerTests
{
    private const string ExporterPolicyPath = $"/api/v1/namespaces/{OperatorNamespace}/configmaps";

    [Fact]
    public async Task Every_budget_of_the_cluster_lands_in_the_exporter_policy_without_routing_rules_and_loads_as_the_exporter_loads_it()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        await cluster.ApplyBudgetAsync(Budget("unmetered-team", 10, ["ci-nowhere"]));
        await cluster.ApplyBudgetAsync(Budget("everyone", 500));
        await cluster.ApplyRuleAsync(Rule("global", OperatorNamespace, "claude-sonnet-4-5"));

        var configMap = await EventuallyAsync(
            cluster.ExporterPolicyConfigMap,
            cm => PolicyYaml(cm) is { } yaml && PolicyLoader.Parse("p", yaml).Budgets.Count == 3,
            "the three budgets in the exporter policy");

        var yaml = PolicyYaml(configMap)!;
        Assert.Equal(PolicyRenderer.Checksum(yaml), configMap!["metadata"]!["annotations"]!["tollgate.io/policy-checksum"]!.GetValue<string>());
        Assert.Equal("tollgate-operator", configMap["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!.GetValue<string>());
        Assert.DoesNotContain("status", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("resourceVersion", yaml, StringComparison.Ordinal);

        // As the exporter gets it: the ConfigMap's key as a file in the folder given to --policy.
        var folder = Directory.CreateTempSubdirectory("tollgate-exporter-policy-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder.FullName, "policy.yaml"), yaml, CancellationToken.None);
            var snapshot = PolicyLoader.LoadSnapshot(folder.FullName);
            Assert.Equal(
                ["everyone:500", "payments-daily:50", "unmetered-team:10"],
                snapshot.Budgets.Select(b => $"{b.Name}:{b.Limit}").Order(StringComparer.Ordinal));
            Assert.Empty(snapshot.RoutingRules);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_changed_budget_rewrites_the_exporter_policy_once_and_a_deleted_one_leaves_it()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        await cluster.ApplyBudgetAsync(Budget("everyone", 500));
        await EventuallyAsync(() => PolicyYaml(cluster.ExporterPolicyConfigMap()), y => y is not null && PolicyLoader.Parse("p", y).Budgets.Count == 2, "both budgets");
        await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["observedGeneration"]?.GetValue<long>() == 1, "the budget status");
        cluster.Api.ClearRequests();

        await cluster.UpdateBudgetAsync("payments-daily", b => b["spec"]!["limit"]!["amount"] = 75);

        await EventuallyAsync(
            () => PolicyYaml(cluster.ExporterPolicyConfigMap()),
            y => y is not null && PolicyLoader.Parse("p", y).Budgets.Single(b => b.Metadata.Name == "payments-daily").Spec.Limit.Amount == 75m,
            "the new limit in the exporter policy");

        // The budget's status follows the edit. Once it is written, a label makes the operator look again: the read that
        // follows comes after every change that could cause a second write.
        await EventuallyAsync(() => cluster.BudgetObject("payments-daily"), b => b?["status"]?["observedGeneration"]?.GetValue<long>() == 2, "the budget status of the edit");
        var touched = cluster.Api.Requests.Count;
        await cluster.UpdateBudgetAsync("payments-daily", b => b["metadata"]!["labels"] = new JsonObject { ["touched"] = "yes" });
        await EventuallyAsync(() => cluster.Api.Requests.Skip(touched), r => r.Any(IsExporterPolicyRead), "a read of the exporter policy after the label");
        await ReadAgainAfterATouchAsync(cluster);
        Assert.Single(cluster.Api.Requests, IsExporterPolicyWrite);

        await cluster.Client.CustomObjects.DeleteClusterCustomObjectAsync(Group, OperatorCluster.Version, "aibudgets", "everyone");

        var remaining = await EventuallyAsync(
            () => PolicyYaml(cluster.ExporterPolicyConfigMap()),
            y => y is not null && PolicyLoader.Parse("p", y).Budgets.Count == 1,
            "the deleted budget to leave the exporter policy");
        Assert.Equal("payments-daily", PolicyLoader.Parse("p", remaining!).Budgets.Single().Metadata.Name);
    }

    [Fact]
    public async Task A_restarted_operator_reads_the_unchanged_exporter_policy_and_writes_nothing()
    {
        await using var cluster = await StartAsync();
        var first = await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        await cluster.ApplyBudgetAsync(Budget("everyone", 500));
        var before = await EventuallyAsync(cluster.ExporterPolicyConfigMap, cm => PolicyYaml(cm) is { } y && PolicyLoader.Parse("p", y).Budgets.Count == 2, "both budgets");
        await first.StopAsync();
        cluster.Api.ClearRequests();

        await cluster.StartOperatorAsync();

        await EventuallyAsync(() => cluster.Api.Requests, r => r.Any(IsExporterPolicyRead), "the restarted operator to read the exporter policy");
        await ReadAgainAfterATouchAsync(cluster);
        Assert.DoesNotContain(cluster.Api.Requests, IsExporterPolicyWrite);
        Assert.Equal(
            before!["metadata"]!["resourceVersion"]!.GetValue<string>(),
            cluster.ExporterPolicyConfigMap()!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_invalid_budget_keeps_its_last_good_version_in_the_exporter_policy()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        var good = await EventuallyAsync(() => PolicyYaml(cluster.ExporterPolicyConfigMap()), y => y?.Contains("payments-daily", StringComparison.Ordinal) == true, "the good policy");

        await cluster.UpdateBudgetAsync("payments-daily", b => b["spec"]!["limit"]!["unit"] = "euros");
        await cluster.ApplyBudgetAsync(Budget("everyone", 500));

        // The later budget shows the edit has been rendered; the invalid one is still there as it was.
        var rendered = await EventuallyAsync(() => PolicyYaml(cluster.ExporterPolicyConfigMap()), y => y?.Contains("everyone", StringComparison.Ordinal) == true, "the next budget");
        var documents = PolicyLoader.Parse("p", rendered!);
        Assert.Equal("usd", documents.Budgets.Single(b => b.Metadata.Name == "payments-daily").Spec.Limit.Unit);
        Assert.DoesNotContain("euros", rendered, StringComparison.Ordinal);
        Assert.Contains(good!, rendered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_or_edited_exporter_policy_is_written_back()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.ApplyBudgetAsync(Budget("payments-daily", 50, ["ci-payments"]));
        var good = await EventuallyAsync(() => PolicyYaml(cluster.ExporterPolicyConfigMap()), y => y?.Contains("payments-daily", StringComparison.Ordinal) == true, "the policy");

        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync(ExporterPolicyController.ConfigMapName, OperatorNamespace);
        await EventuallyAsync(() => PolicyYaml(cluster.ExporterPolicyConfigMap()), y => y == good, "the policy written again");

        var edited = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync(ExporterPolicyController.ConfigMapName, OperatorNamespace);
        edited.Data["policy.yaml"] = string.Empty;
        await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(edited, ExporterPolicyController.ConfigMapName, OperatorNamespace);
        await EventuallyAsync(() => PolicyYaml(cluster.ExporterPolicyConfigMap()), y => y == good, "the edit undone");
    }

    /// <summary>
    /// Labels a budget and waits for the exporter policy to be read after it. The loop runs one pass at a time, so that
    /// read comes after every write the pass before it could make: asserting on the writes then needs no sleep.
    /// </summary>
    private static async Task ReadAgainAfterATouchAsync(OperatorCluster cluster)
    {
        var touched = cluster.Api.Requests.Count;
        await cluster.UpdateBudgetAsync("payments-daily", b => b["metadata"]!["labels"] = new JsonObject { ["touched"] = Guid.NewGuid().ToString("N") });
        await EventuallyAsync(() => cluster.Api.Requests.Skip(touched), r => r.Any(IsExporterPolicyRead), "a read of the exporter policy after another label");
    }

    private static bool IsExporterPolicyRead(TestSupport.FakeKubernetes.FakeKubernetesRequest request) =>
        request.Verb == "get" && request.Path == $"{ExporterPolicyPath}/{ExporterPolicyController.ConfigMapName}";

    private static bool IsExporterPolicyWrite(TestSupport.FakeKubernetes.FakeKubernetesRequest request) =>
        request.Verb is "create" or "update" or "patch" or "delete"
        && request.Path.StartsWith(ExporterPolicyPath, StringComparison.Ordinal)
        && (request.Path.EndsWith(ExporterPolicyController.ConfigMapName, StringComparison.Ordinal) || request.Body.Contains(ExporterPolicyController.ConfigMapName, StringComparison.Ordinal));
}
