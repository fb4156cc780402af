using System.Text.Json.Nodes;
using k8s;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

public sealed class AiRoutingRuleControllerTests
{
    [Fact]
    public async Task A_valid_rule_is_Ready_at_its_generation_and_an_invalid_one_is_Ready_False_Invalid_and_left_out_of_a_new_policy()
    {
        await using var cluster = await StartAsync();
        await cluster.StartOperatorAsync();
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await cluster.ApplyRuleAsync(Rule("cheap", "ci-payments", "claude-haiku-4-5"));
        var bad = Rule("broken", "ci-payments", "gpt-4o");
        bad["spec"]!["route"]!["targets"]![0]!["provider"] = "carrier-pigeon";
        await cluster.ApplyRuleAsync(bad);

        var good = await EventuallyAsync(() => RuleObject(cluster, "cheap"), r => r?["status"]?["observedGeneration"] is not null, "the status of the valid rule");
        Assert.Equal(good!["metadata"]!["generation"]!.GetValue<long>(), good["status"]!["observedGeneration"]!.GetValue<long>());
        Assert.Equal("True", Ready(good)["status"]!.GetValue<string>());

        var broken = await EventuallyAsync(() => RuleObject(cluster, "broken"), r => r?["status"]?["conditions"] is not null, "the status of the invalid rule");
        Assert.Equal("False", Ready(broken!)["status"]!.GetValue<string>());
        Assert.Equal("Invalid", Ready(broken!)["reason"]!.GetValue<string>());
        Assert.Contains("carrier-pigeon", Ready(broken!)["message"]!.GetValue<string>(), StringComparison.Ordinal);

        var yaml = await EventuallyAsync(() => PolicyYaml(cluster.PolicyConfigMap("ci-payments")), y => y?.Contains("name: cheap", StringComparison.Ordinal) == true, "the policy");
        Assert.DoesNotContain("broken", yaml!, StringComparison.Ordinal);
    }

    private static JsonObject? RuleObject(OperatorCluster cluster, string name) => cluster.Api.Get(Group, OperatorCluster.Version, "airoutingrules", "ci-payments", name);

    private static JsonNode Ready(JsonObject rule) => rule["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
}
