using System.Globalization;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class WatchTests
{
    private static V1ConfigMap ConfigMap(string name, string value = "1", IDictionary<string, string>? labels = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = labels },
        Data = new Dictionary<string, string> { ["key"] = value },
    };

    private static WatchRecorder<V1ConfigMap> WatchConfigMaps(
        FakeCluster cluster, string? resourceVersion, bool bookmarks = false, string? labelSelector = null, int? timeoutSeconds = null) =>
        WatchRecorder<V1ConfigMap>.Start((onError, ct) => cluster.Client.CoreV1.WatchListNamespacedConfigMapAsync(
            "default",
            resourceVersion: resourceVersion,
            allowWatchBookmarks: bookmarks,
            labelSelector: labelSelector,
            timeoutSeconds: timeoutSeconds,
            onError: onError,
            cancellationToken: ct));

    private static long Rv(V1ConfigMap obj) => long.Parse(obj.Metadata.ResourceVersion, CultureInfo.InvariantCulture);

    [Fact]
    public async Task Watch_from_a_resource_version_delivers_added_modified_deleted_in_order()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("before"), "default");
        var from = cluster.Api.ResourceVersion;

        await using var watch = WatchConfigMaps(cluster, from);
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default");
        created.Data["key"] = "2";
        var replaced = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "settings", "default");
        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync("settings", "default");

        var added = await watch.NextAsync();
        var modified = await watch.NextAsync();
        var deleted = await watch.NextAsync();
        Assert.Equal(
            [(WatchEventType.Added, "1"), (WatchEventType.Modified, "2"), (WatchEventType.Deleted, "2")],
            new[] { added, modified, deleted }.Select(e => (e.Type, e.Object.Data["key"])));
        Assert.All(new[] { added, modified, deleted }, e => Assert.Equal("settings", e.Object.Metadata.Name));
        Assert.Equal(created.Metadata.ResourceVersion, added.Object.Metadata.ResourceVersion);
        Assert.Equal(replaced.Metadata.ResourceVersion, modified.Object.Metadata.ResourceVersion);
        Assert.True(Rv(deleted.Object) > Rv(modified.Object));
    }

    [Fact]
    public async Task List_then_watch_from_the_list_version_misses_nothing_written_in_between()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("listed"), "default");

        var list = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default");
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("between"), "default");
        await using var watch = WatchConfigMaps(cluster, list.Metadata.ResourceVersion);
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("after"), "default");

        Assert.Equal("between", (await watch.NextAsync()).Object.Metadata.Name);
        Assert.Equal("after", (await watch.NextAsync()).Object.Metadata.Name);
    }

    [Fact]
    public async Task Watch_without_a_resource_version_starts_with_added_events_for_existing_objects()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");

        await using var watch = WatchConfigMaps(cluster, resourceVersion: null);
        var first = await watch.NextAsync();
        var second = await watch.NextAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("c"), "default");
        var third = await watch.NextAsync();

        Assert.Equal(
            [(WatchEventType.Added, "a"), (WatchEventType.Added, "b"), (WatchEventType.Added, "c")],
            new[] { first, second, third }.Select(e => (e.Type, e.Object.Metadata.Name)));
    }

    [Fact]
    public async Task Watch_with_a_label_selector_sees_objects_entering_as_added_and_leaving_as_deleted()
    {
        await using var cluster = await StartAsync();
        var from = cluster.Api.ResourceVersion;
        await using var watch = WatchConfigMaps(cluster, from, labelSelector: "team=a");

        var cm = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("x", labels: new Dictionary<string, string> { ["team"] = "b" }), "default");
        cm.Metadata.Labels["team"] = "a";
        cm = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "x", "default");
        cm.Data["key"] = "2";
        cm = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "x", "default");
        cm.Metadata.Labels["team"] = "c";
        cm = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "x", "default");

        var entered = await watch.NextAsync();
        var changed = await watch.NextAsync();
        var left = await watch.NextAsync();
        Assert.Equal(
            [WatchEventType.Added, WatchEventType.Modified, WatchEventType.Deleted],
            new[] { entered, changed, left }.Select(e => e.Type));
        Assert.Equal("a", left.Object.Metadata.Labels["team"]);
        Assert.Equal(cm.Metadata.ResourceVersion, left.Object.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Watch_asked_for_bookmarks_gets_them_with_the_latest_resource_version()
    {
        await using var cluster = await StartAsync();
        var from = cluster.Api.ResourceVersion;
        await using var watch = WatchConfigMaps(cluster, from, bookmarks: true);

        // A change to another resource moves the cluster's resourceVersion without any configmap event.
        var secret = await cluster.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, "default");
        (WatchEventType Type, V1ConfigMap Object) bookmark;
        do
        {
            bookmark = await watch.NextAsync();
            Assert.Equal(WatchEventType.Bookmark, bookmark.Type);
        }
        while (bookmark.Object.Metadata.ResourceVersion != secret.Metadata.ResourceVersion);

        Assert.Null(bookmark.Object.Metadata.Name);
        Assert.Null(bookmark.Object.Data);
    }

    [Fact]
    public async Task Watch_not_asking_for_bookmarks_gets_none()
    {
        await using var cluster = await StartAsync();
        await using var watch = WatchConfigMaps(cluster, cluster.Api.ResourceVersion);

        // Two whole intervals in which a bookmark would have been due.
        var withheld = cluster.Api.BookmarksWithheld;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (cluster.Api.BookmarksWithheld < withheld + 2)
        {
            await Task.Delay(20, timeout.Token);
        }

        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("x"), "default");

        Assert.Equal(WatchEventType.Added, (await watch.NextAsync()).Type);
    }

    [Fact]
    public async Task Watch_from_a_compacted_resource_version_gets_a_410_Expired_error_and_ends()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        var old = cluster.Api.ResourceVersion;
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");
        cluster.Api.CompactHistory();

        await using var watch = WatchConfigMaps(cluster, old);
        await watch.Completion.WaitAsync(TimeSpan.FromSeconds(5));

        var error = Assert.IsType<KubernetesException>(Assert.Single(watch.Errors));
        Assert.Equal(410, error.Status.Code);
        Assert.Equal("Expired", error.Status.Reason);
        Assert.Equal($"too old resource version: {old} ({cluster.Api.ResourceVersion})", error.Status.Message);
    }

    [Fact]
    public async Task Watch_from_the_compaction_point_still_resumes()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        cluster.Api.CompactHistory();
        var from = cluster.Api.ResourceVersion;

        await using var watch = WatchConfigMaps(cluster, from);
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");

        var e = await watch.NextAsync();
        Assert.Equal((WatchEventType.Added, "b"), (e.Type, e.Object.Metadata.Name));
        Assert.Empty(watch.Errors);
    }

    [Fact]
    public async Task Watch_ends_when_its_timeout_elapses_after_a_last_bookmark()
    {
        await using var cluster = await StartAsync();
        cluster.Api.BookmarkInterval = TimeSpan.FromMinutes(1);
        var from = cluster.Api.ResourceVersion;

        await using var watch = WatchConfigMaps(cluster, from, bookmarks: true, timeoutSeconds: 1);
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("x"), "default");

        Assert.Equal(WatchEventType.Added, (await watch.NextAsync()).Type);
        var last = await watch.NextAsync(TimeSpan.FromSeconds(5));
        await watch.Completion.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(WatchEventType.Bookmark, last.Type);
        Assert.Equal(cluster.Api.ResourceVersion, last.Object.Metadata.ResourceVersion);
        Assert.Equal(0, cluster.Api.OpenWatches);
    }

    [Fact]
    public async Task Closing_watches_on_the_server_ends_open_streams()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await using var watch = WatchConfigMaps(cluster, resourceVersion: null);
        Assert.Equal(WatchEventType.Added, (await watch.NextAsync()).Type);

        cluster.Api.CloseWatches();

        await watch.Completion.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Empty(watch.Errors);
    }

    [Fact]
    public async Task Streaming_list_sends_the_current_state_then_a_bookmark_marking_its_end()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        var at = cluster.Api.ResourceVersion;

        await using var watch = WatchRecorder<V1ConfigMap>.Start((onError, ct) => cluster.Client.CoreV1.WatchListNamespacedConfigMapAsync(
            "default", allowWatchBookmarks: true, sendInitialEvents: true, resourceVersionMatch: "NotOlderThan", onError: onError, cancellationToken: ct));
        var added = await watch.NextAsync();
        var end = await watch.NextAsync();

        Assert.Equal((WatchEventType.Added, "a"), (added.Type, added.Object.Metadata.Name));
        Assert.Equal(WatchEventType.Bookmark, end.Type);
        Assert.Equal(at, end.Object.Metadata.ResourceVersion);
        Assert.Equal("true", end.Object.Metadata.Annotations["k8s.io/initial-events-end"]);
    }

    [Fact]
    public async Task Custom_object_watch_delivers_status_changes_of_a_cluster_scoped_resource()
    {
        await using var cluster = await StartAsync();
        var from = cluster.Api.ResourceVersion;
        await using var watch = WatchRecorder<object>.Start((onError, ct) => cluster.Client.CustomObjects.WatchListClusterCustomObjectAsync(
            Group, V1Alpha1, "aibudgets", resourceVersion: from, onError: onError, cancellationToken: ct));

        var created = Node(await cluster.Client.CustomObjects.CreateClusterCustomObjectAsync(Budget("team-a", 10m), Group, V1Alpha1, "aibudgets"));
        created["status"] = new JsonObject { ["spent"] = 3 };
        await cluster.Client.CustomObjects.ReplaceClusterCustomObjectStatusAsync(created, Group, V1Alpha1, "aibudgets", "team-a");

        var added = await watch.NextAsync();
        var modified = await watch.NextAsync();
        Assert.Equal(WatchEventType.Added, added.Type);
        Assert.Equal(WatchEventType.Modified, modified.Type);
        Assert.Equal(3, Node(modified.Object)["status"]!["spent"]!.GetValue<int>());
        Assert.Equal("AiBudget", Node(modified.Object)["kind"]!.GetValue<string>());
    }
}
