using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class CustomObjectTests
{
    private static JsonObject RoutingRule(string name) => new()
    {
        ["apiVersion"] = $"{Group}/{V1Alpha1}",
        ["kind"] = "AiRoutingRule",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject { ["model"] = "gpt-4o", ["targets"] = new JsonArray("openai") },
    };

    [Fact]
    public async Task Created_custom_object_starts_at_generation_1_and_its_status_is_dropped()
    {
        await using var cluster = await StartAsync();
        var budget = Budget("team-a", 10m);
        budget["status"] = new JsonObject { ["spent"] = 99 };

        var created = Node(await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(budget, Group, V1Alpha1, "aibudgets"));

        Assert.Equal("AiBudget", created["kind"]!.GetValue<string>());
        Assert.Equal("tollgate.io/v1alpha1", created["apiVersion"]!.GetValue<string>());
        Assert.Equal(1, created["metadata"]!["generation"]!.GetValue<long>());
        Assert.Null(created["metadata"]!["namespace"]);
        Assert.Null(created["status"]);
    }

    [Fact]
    public async Task Spec_change_moves_generation_but_a_label_change_does_not()
    {
        await using var cluster = await StartAsync();
        var created = Node(await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets"));

        created["metadata"]!["labels"] = new JsonObject { ["team"] = "a" };
        var relabelled = Node(await cluster.Client.CustomObjects.ReplaceClusterCustomObjectAsync(created, Group, V1Alpha1, "aibudgets", "team-a"));
        relabelled["spec"]!["limit"]!["amount"] = 20;
        var respecced = Node(await cluster.Client.CustomObjects.ReplaceClusterCustomObjectAsync(relabelled, Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(1, relabelled["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(2, respecced["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(20, respecced["spec"]!["limit"]!["amount"]!.GetValue<int>());
    }

    [Fact]
    public async Task Status_update_changes_only_status_and_keeps_generation()
    {
        await using var cluster = await StartAsync();
        var created = Node(await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets"));

        var withStatus = created.DeepClone().AsObject();
        withStatus["status"] = new JsonObject { ["spent"] = 4.5, ["observedGeneration"] = 1 };
        withStatus["spec"]!["limit"]!["amount"] = 1000;
        var updated = Node(await cluster.Client.CustomObjects.ReplaceClusterCustomObjectStatusAsync(withStatus, Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(4.5, updated["status"]!["spent"]!.GetValue<double>());
        Assert.Equal(10, updated["spec"]!["limit"]!["amount"]!.GetValue<int>());
        Assert.Equal(1, updated["metadata"]!["generation"]!.GetValue<long>());
        Assert.NotEqual(created["metadata"]!["resourceVersion"]!.GetValue<string>(), updated["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task Main_resource_update_keeps_the_stored_status()
    {
        await using var cluster = await StartAsync();
        var created = Node(await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets"));
        created["status"] = new JsonObject { ["spent"] = 1 };
        var statusWritten = Node(await cluster.Client.CustomObjects.ReplaceClusterCustomObjectStatusAsync(created, Group, V1Alpha1, "aibudgets", "team-a"));

        statusWritten["status"] = new JsonObject { ["spent"] = 0 };
        statusWritten["spec"]!["limit"]!["amount"] = 11;
        var replaced = Node(await cluster.Client.CustomObjects.ReplaceClusterCustomObjectAsync(statusWritten, Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(1, replaced["status"]!["spent"]!.GetValue<int>());
        Assert.Equal(11, replaced["spec"]!["limit"]!["amount"]!.GetValue<int>());
    }

    [Fact]
    public async Task Without_a_status_subresource_status_is_part_of_the_object_and_moves_generation()
    {
        await using var cluster = await StartAsync(api => api.RegisterResource("tollgate.io", "v1alpha1", "aiquotas", "AiQuota", namespaced: true, statusSubresource: false));
        var quota = new JsonObject { ["apiVersion"] = "tollgate.io/v1alpha1", ["kind"] = "AiQuota", ["metadata"] = new JsonObject { ["name"] = "q" }, ["status"] = new JsonObject { ["used"] = 1 } };

        var created = Node(await cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync(quota, Group, V1Alpha1, "default", "aiquotas"));
        var usedOnCreate = created["status"]!["used"]!.GetValue<int>();
        created["status"]!["used"] = 2;
        var replaced = Node(await cluster.Client.CustomObjects.ReplaceNamespacedCustomObjectAsync(created, Group, V1Alpha1, "default", "aiquotas", "q"));
        var (code, _) = await FailureOf(() => cluster.Client.CustomObjects.GetNamespacedCustomObjectStatusAsync(Group, V1Alpha1, "default", "aiquotas", "q"));

        Assert.Equal(1, usedOnCreate);
        Assert.Equal(2, replaced["status"]!["used"]!.GetValue<int>());
        Assert.Equal(2, replaced["metadata"]!["generation"]!.GetValue<long>());
        Assert.Equal(HttpStatusCode.NotFound, code);
    }

    [Fact]
    public async Task Custom_object_replace_without_a_resource_version_is_a_422_Invalid()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets");

        var (code, status) = await FailureOf(() => cluster.Client.CustomObjects.ReplaceClusterCustomObjectAsync(Budget("team-a", 20m), Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal(
            "AiBudget.tollgate.io \"team-a\" is invalid: metadata.resourceVersion: Invalid value: \"0x0\": must be specified for an update",
            status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Namespaced_custom_objects_are_listed_per_namespace_with_kind_on_each_item()
    {
        await using var cluster = await StartAsync();
        cluster.Api.EnsureNamespace("team-b");
        await cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync(RoutingRule("r1"), Group, V1Alpha1, "default", "airoutingrules");
        await cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync(RoutingRule("r2"), Group, V1Alpha1, "team-b", "airoutingrules");

        var list = Node(await cluster.Client.CustomObjects.ListNamespacedCustomObjectAsync(Group, V1Alpha1, "team-b", "airoutingrules"));

        Assert.Equal("AiRoutingRuleList", list["kind"]!.GetValue<string>());
        var item = Assert.Single(list["items"]!.AsArray())!;
        Assert.Equal("r2", item["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("AiRoutingRule", item["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Delete_of_a_custom_object_answers_the_deleted_object()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets");

        var deleted = Node(await cluster.Client.CustomObjects.DeleteClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal("AiBudget", deleted["kind"]!.GetValue<string>());
        Assert.Empty(cluster.Api.Objects(Group, V1Alpha1, "aibudgets"));
    }

    [Fact]
    public async Task Paths_of_an_unregistered_custom_resource_are_404_like_a_missing_crd()
    {
        await using var cluster = await StartAsync();

        var (code, status) = await FailureOf(() => cluster.Client.CustomObjects.ListNamespacedCustomObjectAsync("monitoring.coreos.com", "v1", "default", "prometheusrules"));
        var crd = await FailureOf(() => cluster.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync("prometheusrules.monitoring.coreos.com"));

        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("the server could not find the requested resource", status["message"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, crd.Code);
    }

    [Fact]
    public async Task Registered_custom_resource_has_an_established_crd_and_appears_in_discovery()
    {
        await using var cluster = await StartAsync(api => api.RegisterResource("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule", namespaced: true, statusSubresource: false));

        var crd = await cluster.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync("prometheusrules.monitoring.coreos.com");
        var groups = await cluster.Client.Apis.GetAPIVersionsAsync();
        var resources = await cluster.Client.ApiextensionsV1.GetAPIResourcesAsync();

        Assert.Equal("Namespaced", crd.Spec.Scope);
        Assert.Equal("PrometheusRule", crd.Spec.Names.Kind);
        Assert.Contains(crd.Status.Conditions, c => c.Type == "Established" && c.Status == "True");
        Assert.Contains(groups.Groups, g => g.Name == "monitoring.coreos.com" && g.PreferredVersion.Version == "v1");
        Assert.Contains(groups.Groups, g => g.Name == "tollgate.io" && g.PreferredVersion.GroupVersion == "tollgate.io/v1alpha1");
        Assert.Contains(resources.Resources, r => r.Name == "customresourcedefinitions/status");
    }

    [Fact]
    public async Task Crd_created_through_the_api_starts_serving_its_resource_and_deleting_it_stops()
    {
        await using var cluster = await StartAsync();
        var crd = new V1CustomResourceDefinition
        {
            Metadata = new V1ObjectMeta { Name = "widgets.example.com" },
            Spec = new V1CustomResourceDefinitionSpec
            {
                Group = "example.com",
                Scope = "Namespaced",
                Names = new V1CustomResourceDefinitionNames { Plural = "widgets", Singular = "widget", Kind = "Widget" },
                Versions =
                [
                    new V1CustomResourceDefinitionVersion
                    {
                        Name = "v1", Served = true, Storage = true,
                        Schema = new V1CustomResourceValidation { OpenAPIV3Schema = new V1JSONSchemaProps { Type = "object", XKubernetesPreserveUnknownFields = true } },
                    },
                ],
            },
        };
        await cluster.Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd);
        var widget = new JsonObject { ["apiVersion"] = "example.com/v1", ["kind"] = "Widget", ["metadata"] = new JsonObject { ["name"] = "w" } };

        await cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync(widget, "example.com", "v1", "default", "widgets");
        await cluster.Client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync("widgets.example.com");
        var (code, _) = await FailureOf(() => cluster.Client.CustomObjects.ListNamespacedCustomObjectAsync("example.com", "v1", "default", "widgets"));

        Assert.Equal(HttpStatusCode.NotFound, code);
    }
}
