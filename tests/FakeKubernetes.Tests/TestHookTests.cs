using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class TestHookTests
{
    [Fact]
    public async Task FailNext_fails_only_the_matching_verb_and_path_the_given_number_of_times()
    {
        await using var cluster = await StartAsync();
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" } }, "default");
        cluster.Api.FailNext("update", "/api/v1/namespaces/default/configmaps/c", 500, times: 2);
        cluster.Api.FailNext("get", "/apis/tollgate.io/", 409);

        var read = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("c", "default");
        var first = await FailureOf(() => cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "c", "default"));
        var second = await FailureOf(() => cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "c", "default"));
        var third = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "c", "default");

        Assert.Equal("c", read.Metadata.Name);
        Assert.Equal(HttpStatusCode.InternalServerError, first.Code);
        Assert.Equal("InternalError", first.Status["reason"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.InternalServerError, second.Code);
        Assert.Equal("c", third.Metadata.Name);
    }

    [Fact]
    public async Task Request_log_records_verb_path_and_status_of_each_request()
    {
        await using var cluster = await StartAsync();
        cluster.Api.ClearRequests();

        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 1m), Group, V1Alpha1, "aibudgets");
        await FailureOf(() => cluster.Client.CustomObjects.GetClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", "missing"));
        await cluster.Client.CustomObjects.ListClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", labelSelector: "team=a");

        Assert.Equal(
            [
                ("create", "/apis/tollgate.io/v1alpha1/aibudgets", 201),
                ("get", "/apis/tollgate.io/v1alpha1/aibudgets/missing", 404),
                ("list", "/apis/tollgate.io/v1alpha1/aibudgets", 200),
            ],
            cluster.Api.Requests.Select(r => (r.Verb, r.Path, r.StatusCode)));
        Assert.Contains("labelSelector=team%3Da", cluster.Api.Requests[2].Query.Split('&'));
    }

    [Fact]
    public async Task Objects_snapshot_is_a_copy_in_list_order()
    {
        await using var cluster = await StartAsync();
        cluster.Api.Seed(Group, V1Alpha1, "aibudgets", Budget("b", 1m));
        cluster.Api.Seed(Group, V1Alpha1, "aibudgets", Budget("a", 1m));

        var snapshot = cluster.Api.Objects(Group, V1Alpha1, "aibudgets");
        snapshot[0]["spec"] = new JsonObject();

        Assert.Equal(["a", "b"], snapshot.Select(o => o["metadata"]!["name"]!.GetValue<string>()));
        Assert.Equal(1, cluster.Api.Get(Group, V1Alpha1, "aibudgets", null, "a")!["spec"]!["limit"]!["amount"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task Seeding_an_invalid_object_throws_with_the_status_message()
    {
        await using var api = new Tollgate.TestSupport.FakeKubernetes.FakeKubernetesApi();

        var e = Assert.Throws<InvalidOperationException>(() => api.Seed("", "v1", "configmaps", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "c", ["namespace"] = "absent" },
        }));

        Assert.Equal("404 NotFound: namespaces \"absent\" not found", e.Message);
    }
}
