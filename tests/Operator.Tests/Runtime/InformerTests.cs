using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Tests.Controllers;
using Tollgate.TestSupport.FakeKubernetes;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Runtime;

public sealed class InformerTests
{
    [Fact]
    public async Task After_history_is_compacted_under_a_running_watch_the_informer_lists_again_and_sees_later_changes()
    {
        // No bookmarks during the test, so the informer's resourceVersion stays behind the compaction point.
        await using var api = new FakeKubernetesApi { BookmarkInterval = TimeSpan.FromHours(1) };
        api.RegisterResource(Group, OperatorCluster.Version, "aibudgets", "AiBudget", namespaced: false);
        await api.StartAsync();
        using var client = new Kubernetes(api.Configuration);
        var changes = new List<string>();
        // Real clock for the informer's backoff timers; nothing here is dated.
        await using var informer = new Informer<AiBudget>(
            new CustomResourceSource<AiBudget>(client, AiBudget.Plural, namespaced: false), TimeProvider.System, NullLogger.Instance);
        informer.OnChange(c =>
        {
            lock (changes)
            {
                changes.Add(c.Current is null ? $"-{c.Previous!.Metadata.Name}" : $"+{c.Current.Metadata.Name}");
            }
        });
        await client.CustomObjects.CreateClusterCustomObjectAsync(Budget("before", 10), Group, OperatorCluster.Version, "aibudgets");
        informer.Start(CancellationToken.None);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(5));
        await client.CustomObjects.CreateClusterCustomObjectAsync(Budget("watched", 10), Group, OperatorCluster.Version, "aibudgets");
        await EventuallyAsync(() => informer.Get("watched"), b => b is not null, "the watched budget");

        // Something else moves the cluster's resourceVersion on, then etcd compacts and the API server drops the watches.
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "unrelated" } }, "default");
        api.CompactHistory();
        api.CloseWatches();
        await client.CustomObjects.DeleteClusterCustomObjectAsync(Group, OperatorCluster.Version, "aibudgets", "before");
        await client.CustomObjects.CreateClusterCustomObjectAsync(Budget("after", 10), Group, OperatorCluster.Version, "aibudgets");

        await EventuallyAsync(() => informer.Get("after"), b => b is not null, "the budget created after the compaction");
        await EventuallyAsync(() => informer.Get("before"), b => b is null, "the budget deleted after the compaction");
        Assert.Equal(2, informer.Lists);
        Assert.Equal(["after", "watched"], informer.List().Select(b => b.Metadata.Name).Order(StringComparer.Ordinal));
        lock (changes)
        {
            // The re-list may run before or after the two changes land, so only what was reported is fixed, not their order.
            Assert.Equal(["+before", "+watched"], changes.Take(2));
            Assert.Equal(["+after", "-before"], changes.Skip(2).Order(StringComparer.Ordinal));
        }

        // And it keeps watching after the re-list.
        await client.CustomObjects.CreateClusterCustomObjectAsync(Budget("later", 10), Group, OperatorCluster.Version, "aibudgets");
        await EventuallyAsync(() => informer.Get("later"), b => b is not null, "a budget created after the re-list");
        Assert.Equal(2, informer.Lists);
    }

    [Fact]
    public async Task A_watch_closed_by_the_server_resumes_from_its_resource_version_without_listing_again()
    {
        await using var cluster = await StartAsync();
        // Real clock for the informer's timers; nothing here is dated.
        await using var informer = new Informer<V1Namespace>(new NamespaceSource(cluster.Client), TimeProvider.System, NullLogger.Instance);
        informer.Start(CancellationToken.None);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(5));

        cluster.Api.CloseWatches();
        await cluster.LabelNamespaceAsync("ci-new", metered: true);

        var ns = await EventuallyAsync(() => informer.Get("ci-new"), n => n is not null, "the new namespace");
        Assert.Equal("enabled", ns!.Metadata.Labels["tollgate.io/meter"]);
        Assert.Equal(1, informer.Lists);
    }
}
