using System.Net;
using k8s;
using k8s.Models;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class ListTests
{
    private static async Task<FakeCluster> ClusterWithLabelledConfigMapsAsync()
    {
        var cluster = await FakeCluster.StartAsync();
        var labelled = new (string Name, Dictionary<string, string> Labels)[]
        {
            ("alpha", new() { ["team"] = "payments", ["tier"] = "1" }),
            ("beta", new() { ["team"] = "search", ["tier"] = "3" }),
            ("gamma", new() { ["team"] = "ml" }),
            ("delta", new()),
        };
        foreach (var (name, labels) in labelled)
        {
            await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
                new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, Labels = labels } }, "default");
        }

        return cluster;
    }

    [Theory]
    [InlineData("team=payments", "alpha")]
    [InlineData("team==search", "beta")]
    [InlineData("team!=payments", "beta,delta,gamma")]
    [InlineData("team in (payments, ml)", "alpha,gamma")]
    [InlineData("team notin (payments,ml)", "beta,delta")]
    [InlineData("team", "alpha,beta,gamma")]
    [InlineData("!team", "delta")]
    [InlineData("team,tier in (1,2)", "alpha")]
    [InlineData("tier>2", "beta")]
    [InlineData("", "alpha,beta,delta,gamma")]
    public async Task Label_selector_supports_equality_inequality_sets_and_existence(string selector, string expected)
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();

        var list = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", labelSelector: selector);

        Assert.Equal(expected.Split(','), list.Items.Select(i => i.Metadata.Name));
    }

    [Fact]
    public async Task Malformed_label_selector_is_a_400_BadRequest()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", labelSelector: "team in payments"));

        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("BadRequest", status["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Field_selector_on_metadata_name_returns_only_that_object()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();

        var list = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", fieldSelector: "metadata.name=gamma");

        Assert.Equal(["gamma"], list.Items.Select(i => i.Metadata.Name));
    }

    [Fact]
    public async Task Field_selector_on_an_unsupported_field_is_a_400_BadRequest()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", fieldSelector: "data.key=1"));

        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("field label not supported: data.key", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Listing_across_namespaces_returns_objects_of_every_namespace_in_key_order()
    {
        await using var cluster = await FakeCluster.StartAsync();
        cluster.Api.EnsureNamespace("tollgate-system");
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "b" } }, "tollgate-system");
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "a" } }, "default");

        var list = await cluster.Client.CoreV1.ListConfigMapForAllNamespacesAsync();

        Assert.Equal(["default/a", "tollgate-system/b"], list.Items.Select(i => $"{i.Metadata.NamespaceProperty}/{i.Metadata.Name}"));
    }

    [Fact]
    public async Task Paged_list_continues_from_the_same_snapshot()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();

        var first = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", limit: 3);
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "epsilon" } }, "default");
        var rest = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", limit: 3, continueParameter: first.Metadata.ContinueProperty);

        Assert.Equal(["alpha", "beta", "delta"], first.Items.Select(i => i.Metadata.Name));
        Assert.Equal(1, first.Metadata.RemainingItemCount);
        Assert.Equal(["gamma"], rest.Items.Select(i => i.Metadata.Name));
        Assert.Null(rest.Metadata.ContinueProperty);
        Assert.Equal(first.Metadata.ResourceVersion, rest.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Exact_list_at_an_older_resource_version_shows_the_state_then()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();
        var then = cluster.Api.ResourceVersion;
        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync("alpha", "default");

        var list = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", resourceVersion: then, resourceVersionMatch: "Exact");

        Assert.Equal(["alpha", "beta", "delta", "gamma"], list.Items.Select(i => i.Metadata.Name));
        Assert.Equal(then, list.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task List_not_older_than_a_future_resource_version_is_a_504_Timeout()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();
        var future = (long.Parse(cluster.Api.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture) + 10).ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", resourceVersion: future));

        Assert.Equal(HttpStatusCode.GatewayTimeout, code);
        Assert.StartsWith("Timeout: Too large resource version", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Exact_list_at_a_compacted_resource_version_is_a_410_Expired()
    {
        await using var cluster = await ClusterWithLabelledConfigMapsAsync();
        var then = cluster.Api.ResourceVersion;
        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync("alpha", "default");
        cluster.Api.CompactHistory();

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default", resourceVersion: then, resourceVersionMatch: "Exact"));

        Assert.Equal(HttpStatusCode.Gone, code);
        Assert.Equal("Expired", status["reason"]!.GetValue<string>());
    }
}
