using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class DeletionTests
{
    private const string Finalizer = "tollgate.io/ledger-cleanup";

    [Fact]
    public async Task Delete_with_a_finalizer_keeps_the_object_with_a_deletion_timestamp_until_the_finalizer_is_removed()
    {
        await using var cluster = await StartAsync();
        var budget = Budget("team-a", 10m);
        budget["metadata"]!["finalizers"] = new JsonArray(Finalizer);
        await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(budget, Group, V1Alpha1, "aibudgets");
        var from = cluster.Api.ResourceVersion;
        await using var watch = WatchRecorder<object>.Start((onError, ct) => cluster.Client.CustomObjects.WatchListClusterCustomObjectAsync(
            Group, V1Alpha1, "aibudgets", resourceVersion: from, onError: onError, cancellationToken: ct));

        var answered = Node(await cluster.Client.CustomObjects.DeleteClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", "team-a"));
        var terminating = Node(await cluster.Client.CustomObjects.GetClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", "team-a"));
        Assert.NotNull(answered["metadata"]!["deletionTimestamp"]);
        Assert.NotNull(terminating["metadata"]!["deletionTimestamp"]);
        Assert.Equal(0, terminating["metadata"]!["deletionGracePeriodSeconds"]!.GetValue<int>());
        Assert.Equal(2, terminating["metadata"]!["generation"]!.GetValue<long>());

        // Deleting again changes nothing; the object waits for its finalizer.
        var again = Node(await cluster.Client.CustomObjects.DeleteClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", "team-a"));
        Assert.Equal(terminating["metadata"]!["resourceVersion"]!.GetValue<string>(), again["metadata"]!["resourceVersion"]!.GetValue<string>());

        await cluster.Client.CustomObjects.PatchClusterCustomObjectAsync(
            new V1Patch(new JsonObject { ["metadata"] = new JsonObject { ["finalizers"] = null } }, V1Patch.PatchType.MergePatch), Group, V1Alpha1, "aibudgets", "team-a");
        var (code, _) = await FailureOf(() => cluster.Client.CustomObjects.GetClusterCustomObjectAsync(Group, V1Alpha1, "aibudgets", "team-a"));

        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal(WatchEventType.Modified, (await watch.NextAsync()).Type);
        Assert.Equal(WatchEventType.Deleted, (await watch.NextAsync()).Type);
    }

    [Fact]
    public async Task Adding_a_finalizer_to_an_object_being_deleted_is_a_422()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c", Finalizers = [Finalizer] } }, "default");
        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync("c", "default");

        var terminating = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("c", "default");
        terminating.Metadata.Finalizers.Add("tollgate.io/another");
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(terminating, "c", "default"));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Contains("no new finalizers can be added if the object is being deleted", status["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_with_a_stale_resource_version_precondition_is_a_409()
    {
        await using var cluster = await StartAsync();
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" } }, "default");
        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(new JsonObject { ["data"] = new JsonObject { ["k"] = "v" } }, V1Patch.PatchType.MergePatch), "c", "default");

        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync(
            "c", "default", new V1DeleteOptions { Preconditions = new V1Preconditions { ResourceVersion = created.Metadata.ResourceVersion } }));

        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.StartsWith("Operation cannot be fulfilled on configmaps \"c\": Precondition failed: ResourceVersion in precondition", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Deleting_a_namespace_deletes_its_contents_and_then_the_namespace()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "team-b" } });
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "plain" } }, "team-b");
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "held", Finalizers = [Finalizer] } }, "team-b");

        var terminating = await cluster.Client.CoreV1.DeleteNamespaceAsync("team-b");
        var (refused, _) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "late" } }, "team-b"));
        var left = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("team-b");
        Assert.Equal("Terminating", (await cluster.Client.CoreV1.ReadNamespaceAsync("team-b")).Status.Phase);
        Assert.Equal("Terminating", terminating.ObjectView<V1Namespace>().Status.Phase);
        Assert.Equal(HttpStatusCode.Forbidden, refused);
        Assert.Equal(["held"], left.Items.Select(i => i.Metadata.Name));

        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch(new JsonObject { ["metadata"] = new JsonObject { ["finalizers"] = null } }, V1Patch.PatchType.MergePatch), "held", "team-b");

        var (gone, _) = await FailureOf(() => cluster.Client.CoreV1.ReadNamespaceAsync("team-b"));
        Assert.Equal(HttpStatusCode.NotFound, gone);
    }

    [Fact]
    public async Task Delete_collection_removes_only_the_selected_objects()
    {
        await using var cluster = await StartAsync();
        foreach (var (name, team) in new[] { ("a", "x"), ("b", "y"), ("c", "x") })
        {
            await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
                new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["team"] = team } } }, "default");
        }

        await cluster.Client.CoreV1.DeleteCollectionNamespacedConfigMapAsync("default", labelSelector: "team=x");

        Assert.Equal(["b"], cluster.Api.Objects("", "v1", "configmaps", "default").Select(o => o["metadata"]!["name"]!.GetValue<string>()));
    }
}
