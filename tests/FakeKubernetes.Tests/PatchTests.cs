using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class PatchTests
{
    private static async Task<FakeCluster> ClusterWithConfigMapAsync()
    {
        var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap
            {
                Metadata = new V1ObjectMeta { Name = "settings", Labels = new Dictionary<string, string> { ["team"] = "a", ["tier"] = "1" } },
                Data = new Dictionary<string, string> { ["keep"] = "k", ["drop"] = "d" },
            },
            "default");
        return cluster;
    }

    [Fact]
    public async Task Merge_patch_sets_fields_and_null_removes_them()
    {
        await using var cluster = await ClusterWithConfigMapAsync();
        var patch = new JsonObject
        {
            ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["tier"] = null, ["env"] = "prod" } },
            ["data"] = new JsonObject { ["drop"] = null, ["new"] = "n" },
        };

        var patched = await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "settings", "default");

        Assert.Equal(new Dictionary<string, string> { ["team"] = "a", ["env"] = "prod" }, patched.Metadata.Labels);
        Assert.Equal(new Dictionary<string, string> { ["keep"] = "k", ["new"] = "n" }, patched.Data);
    }

    [Fact]
    public async Task Json_patch_adds_replaces_and_removes_in_order()
    {
        await using var cluster = await ClusterWithConfigMapAsync();
        var patch = new JsonArray(
            new JsonObject { ["op"] = "test", ["path"] = "/data/keep", ["value"] = "k" },
            new JsonObject { ["op"] = "replace", ["path"] = "/data/keep", ["value"] = "k2" },
            new JsonObject { ["op"] = "remove", ["path"] = "/data/drop" },
            new JsonObject { ["op"] = "add", ["path"] = "/metadata/labels/app.kubernetes.io~1name", ["value"] = "tollgate" });

        var patched = await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.JsonPatch), "settings", "default");

        Assert.Equal(new Dictionary<string, string> { ["keep"] = "k2" }, patched.Data);
        Assert.Equal("tollgate", patched.Metadata.Labels["app.kubernetes.io/name"]);
    }

    [Fact]
    public async Task Json_patch_with_a_failing_test_is_a_422_and_changes_nothing()
    {
        await using var cluster = await ClusterWithConfigMapAsync();
        var before = cluster.Api.ResourceVersion;
        var patch = new JsonArray(
            new JsonObject { ["op"] = "remove", ["path"] = "/data/drop" },
            new JsonObject { ["op"] = "test", ["path"] = "/data/keep", ["value"] = "other" });

        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.JsonPatch), "settings", "default"));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.Equal(before, cluster.Api.ResourceVersion);
        Assert.Equal("d", cluster.Api.Get("", "v1", "configmaps", "default", "settings")!["data"]!["drop"]!.GetValue<string>());
    }

    [Fact]
    public async Task Patch_carrying_a_stale_resource_version_is_a_409_Conflict()
    {
        await using var cluster = await ClusterWithConfigMapAsync();
        var stale = (await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("settings", "default")).Metadata.ResourceVersion;
        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(new JsonObject { ["data"] = new JsonObject { ["x"] = "1" } }, V1Patch.PatchType.MergePatch), "settings", "default");

        var patch = new JsonObject { ["metadata"] = new JsonObject { ["resourceVersion"] = stale }, ["data"] = new JsonObject { ["x"] = "2" } };
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "settings", "default"));

        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Conflict", status["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Strategic_merge_patch_of_a_config_map_merges_like_a_merge_patch()
    {
        await using var cluster = await ClusterWithConfigMapAsync();

        var patched = await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch(new JsonObject { ["data"] = new JsonObject { ["drop"] = null } }, V1Patch.PatchType.StrategicMergePatch), "settings", "default");

        Assert.Equal(new Dictionary<string, string> { ["keep"] = "k" }, patched.Data);
    }

    [Fact]
    public async Task Strategic_merge_patch_of_a_custom_object_is_a_415_as_on_a_real_cluster()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets");

        var (code, status) = await FailureOf(() => cluster.Client.CustomObjects.PatchClusterCustomObjectAsync(
            new V1Patch(new JsonObject { ["spec"] = new JsonObject { ["priority"] = 1 } }, V1Patch.PatchType.StrategicMergePatch), Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, code);
        Assert.Equal("UnsupportedMediaType", status["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Status_merge_patch_changes_status_only()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets");
        var patch = new JsonObject
        {
            ["spec"] = new JsonObject { ["limit"] = new JsonObject { ["amount"] = 1 } },
            ["status"] = new JsonObject { ["spent"] = 2.5, ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "True" }) },
        };

        var patched = Node(await cluster.Client.CustomObjects.PatchClusterCustomObjectStatusAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(2.5, patched["status"]!["spent"]!.GetValue<double>());
        Assert.Equal("Ready", patched["status"]!["conditions"]![0]!["type"]!.GetValue<string>());
        Assert.Equal(10, patched["spec"]!["limit"]!["amount"]!.GetValue<int>());
        Assert.Equal(1, patched["metadata"]!["generation"]!.GetValue<long>());
    }

    [Fact]
    public async Task Merge_patch_of_a_custom_object_spec_moves_generation()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets");

        var patched = Node(await cluster.Client.CustomObjects.PatchClusterCustomObjectAsync(
            new V1Patch(new JsonObject { ["spec"] = new JsonObject { ["priority"] = 5 } }, V1Patch.PatchType.MergePatch), Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(5, patched["spec"]!["priority"]!.GetValue<int>());
        Assert.Equal(10, patched["spec"]!["limit"]!["amount"]!.GetValue<int>());
        Assert.Equal(2, patched["metadata"]!["generation"]!.GetValue<long>());
    }

    [Fact]
    public async Task Apply_patch_creates_a_missing_object_and_merges_into_an_existing_one()
    {
        await using var cluster = await StartAsync();
        var rule = new JsonObject
        {
            ["apiVersion"] = "tollgate.io/v1alpha1",
            ["kind"] = "AiRoutingRule",
            ["metadata"] = new JsonObject { ["name"] = "r" },
            ["spec"] = new JsonObject { ["model"] = "a" },
        };

        var created = Node(await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(rule, V1Patch.PatchType.ApplyPatch), Group, V1Alpha1, "default", "airoutingrules", "r", fieldManager: "tollgate-operator"));
        rule["spec"]!["model"] = "b";
        var applied = Node(await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(rule, V1Patch.PatchType.ApplyPatch), Group, V1Alpha1, "default", "airoutingrules", "r", fieldManager: "tollgate-operator"));

        Assert.Equal("a", created["spec"]!["model"]!.GetValue<string>());
        Assert.Equal("b", applied["spec"]!["model"]!.GetValue<string>());
        Assert.Equal(2, applied["metadata"]!["generation"]!.GetValue<long>());
    }
}
