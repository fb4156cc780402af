using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class CoreResourceTests
{
    private static V1ConfigMap ConfigMap(string name, IDictionary<string, string>? labels = null, string value = "1") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = labels },
        Data = new Dictionary<string, string> { ["key"] = value },
    };

    [Fact]
    public async Task Created_config_map_gets_uid_creation_timestamp_and_a_numeric_resource_version()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default");
        var read = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("settings", "default");

        Assert.Equal("ConfigMap", created.Kind);
        Assert.Equal("v1", created.ApiVersion);
        Assert.Equal("default", created.Metadata.NamespaceProperty);
        Assert.True(Guid.TryParse(created.Metadata.Uid, out _));
        Assert.NotNull(created.Metadata.CreationTimestamp);
        Assert.True(long.Parse(created.Metadata.ResourceVersion, CultureInfo.InvariantCulture) > 0);
        Assert.Null(created.Metadata.Generation);
        Assert.Equal(created.Metadata.ResourceVersion, read.Metadata.ResourceVersion);
        Assert.Equal("1", read.Data["key"]);
    }

    [Fact]
    public async Task Resource_versions_increase_across_resource_types_and_the_list_reports_the_latest()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var first = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        var secret = await cluster.Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, "default");
        var second = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b"), "default");
        var list = await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default");

        var versions = new[] { first, (IMetadata<V1ObjectMeta>)secret, second }.Select(o => long.Parse(o.Metadata.ResourceVersion, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(versions.Length, versions.Distinct().Count());
        Assert.Equal(second.Metadata.ResourceVersion, list.Metadata.ResourceVersion);
        Assert.Equal(["a", "b"], list.Items.Select(i => i.Metadata.Name));
    }

    [Fact]
    public async Task Creating_an_existing_config_map_is_a_409_AlreadyExists_status()
    {
        await using var cluster = await FakeCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default");

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default"));

        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Status", status["kind"]!.GetValue<string>());
        Assert.Equal("Failure", status["status"]!.GetValue<string>());
        Assert.Equal("AlreadyExists", status["reason"]!.GetValue<string>());
        Assert.Equal(409, status["code"]!.GetValue<int>());
        Assert.Equal("configmaps \"settings\" already exists", status["message"]!.GetValue<string>());
        Assert.Equal("configmaps", status["details"]!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Reading_a_missing_config_map_is_a_404_NotFound_status()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("nope", "default"));

        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("NotFound", status["reason"]!.GetValue<string>());
        Assert.Equal("configmaps \"nope\" not found", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Replace_with_a_stale_resource_version_is_a_409_Conflict()
    {
        await using var cluster = await FakeCluster.StartAsync();
        var original = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default");
        original.Data["key"] = "2";
        await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(original, "settings", "default");

        original.Data["key"] = "3";
        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(original, "settings", "default"));

        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Conflict", status["reason"]!.GetValue<string>());
        Assert.Equal(
            "Operation cannot be fulfilled on configmaps \"settings\": the object has been modified; please apply your changes to the latest version and try again",
            status["message"]!.GetValue<string>());
        Assert.Equal("2", (await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("settings", "default")).Data["key"]);
    }

    [Fact]
    public async Task Replace_that_changes_nothing_keeps_the_resource_version()
    {
        await using var cluster = await FakeCluster.StartAsync();
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default");

        var replaced = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "settings", "default");

        Assert.Equal(created.Metadata.ResourceVersion, replaced.Metadata.ResourceVersion);
        Assert.Equal(created.Metadata.ResourceVersion, cluster.Api.ResourceVersion);
    }

    [Fact]
    public async Task Deleting_a_config_map_without_finalizers_removes_it_and_answers_a_success_status()
    {
        await using var cluster = await FakeCluster.StartAsync();
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default");

        var status = await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync("settings", "default");

        Assert.Equal("Success", status.Status);
        Assert.Equal("settings", status.Details.Name);
        Assert.Equal(created.Metadata.Uid, status.Details.Uid);
        Assert.Empty(cluster.Api.Objects("", "v1", "configmaps", "default"));
    }

    [Fact]
    public async Task Objects_in_a_missing_namespace_are_refused_with_404_until_the_namespace_exists()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "tollgate-system"));
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "tollgate-system" } });
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "tollgate-system");

        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("namespaces \"tollgate-system\" not found", status["message"]!.GetValue<string>());
        Assert.Equal("tollgate-system", created.Metadata.NamespaceProperty);
    }

    [Fact]
    public async Task Invalid_names_and_label_values_are_a_422_Invalid_with_a_cause_per_field()
    {
        await using var cluster = await FakeCluster.StartAsync();
        var bad = ConfigMap("Bad_Name", new Dictionary<string, string> { ["team"] = "platform team" });

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(bad, "default"));

        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal("Invalid", status["reason"]!.GetValue<string>());
        Assert.StartsWith("ConfigMap \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain", status["message"]!.GetValue<string>());
        Assert.Equal(["metadata.name", "metadata.labels"], status["details"]!["causes"]!.AsArray().Select(c => c!["field"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Non_string_annotation_values_do_not_decode_and_are_a_400()
    {
        await using var cluster = await FakeCluster.StartAsync();

        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("c"), "default");
        var patch = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { ["replicas"] = 1 } } };

        var (code, status) = await FakeCluster.FailureOf(() => cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "c", "default"));

        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal(
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.annotations of type string",
            status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Namespaces_are_active_and_carry_their_name_as_a_label()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var created = await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "team-a" } });

        Assert.Equal("team-a", created.Metadata.Labels["kubernetes.io/metadata.name"]);
        Assert.Equal("Active", created.Status.Phase);
        Assert.Equal(["kubernetes"], created.Spec.Finalizers);
        Assert.Equal(
            ["default", "kube-node-lease", "kube-public", "kube-system", "team-a"],
            (await cluster.Client.CoreV1.ListNamespaceAsync()).Items.Select(n => n.Metadata.Name));
    }

    [Fact]
    public async Task Generate_name_gets_a_random_suffix()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { GenerateName = "lock-" } }, "default");

        Assert.Matches("^lock-[a-z0-9]{5}$", created.Metadata.Name);
    }

    [Fact]
    public async Task Secret_string_data_is_stored_as_base64_data()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var created = await cluster.Client.CoreV1.CreateNamespacedSecretAsync(
            new V1Secret { Metadata = new V1ObjectMeta { Name = "provider-keys" }, StringData = new Dictionary<string, string> { ["openai"] = "sk-test" } },
            "default");

        Assert.Null(created.StringData);
        Assert.Equal("Opaque", created.Type);
        Assert.Equal("sk-test", Encoding.UTF8.GetString(created.Data["openai"]));
    }

    [Fact]
    public async Task Dry_run_create_answers_the_object_without_storing_it()
    {
        await using var cluster = await FakeCluster.StartAsync();
        var before = cluster.Api.ResourceVersion;

        var answered = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("settings"), "default", dryRun: "All");

        Assert.Equal("settings", answered.Metadata.Name);
        Assert.Empty(cluster.Api.Objects("", "v1", "configmaps", "default"));
        Assert.Equal(before, cluster.Api.ResourceVersion);
    }

    [Fact]
    public async Task Events_can_be_recorded_and_listed_by_involved_object()
    {
        await using var cluster = await FakeCluster.StartAsync();
        Corev1Event Event(string name, string involved) => new()
        {
            Metadata = new V1ObjectMeta { Name = name },
            InvolvedObject = new V1ObjectReference { Kind = "AiBudget", Name = involved, ApiVersion = "tollgate.io/v1alpha1" },
            Reason = "BudgetExhausted",
            Type = "Warning",
            Message = "spent",
        };
        await cluster.Client.CoreV1.CreateNamespacedEventAsync(Event("team-a.1", "team-a"), "default");
        await cluster.Client.CoreV1.CreateNamespacedEventAsync(Event("team-b.1", "team-b"), "default");

        var events = await cluster.Client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=team-a,type=Warning");

        Assert.Equal(["team-a.1"], events.Items.Select(e => e.Metadata.Name));
    }
}
