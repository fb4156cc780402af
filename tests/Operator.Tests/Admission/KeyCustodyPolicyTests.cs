using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.Admission;

/// <summary>
/// The ValidatingAdmissionPolicy tollgate-key-custody, stored in the fake API server (which evaluates it with a real
/// CEL interpreter after validation, as kube-apiserver does) and run against pods created through the real client:
/// every probe as the webhook of old would have let it through, every probe with no webhook at all, and pods that
/// must keep working.
/// </summary>
public sealed class KeyCustodyPolicyTests : IAsyncLifetime, IAsyncDisposable
{
    private const string OperatorNamespace = "tollgate-system";
    private static readonly SidecarInjector Injector = new(Options.Create(PodManifests.Options()));
    private FakeKubernetesApi _api = null!;
    private Kubernetes _client = null!;

    public static TheoryData<string> Attacks => [.. CustodyPods.Attacks.Where(a => a.Policy is not null).Select(a => a.Name)];

    public static TheoryData<string> AllAttacks => [.. CustodyPods.Attacks.Select(a => a.Name)];

    public static TheoryData<string> Legitimate => [.. CustodyPods.Legitimate.Keys];

    public async Task InitializeAsync()
    {
        _api = new FakeKubernetesApi();
        await _api.StartAsync();
        _client = new Kubernetes(_api.Configuration);
        foreach (var ns in new[] { CustodyPods.Namespace, PodManifests.OptOutNamespace, new NamespaceInfo(OperatorNamespace, new Dictionary<string, string>()) })
        {
            await _client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns.Name, Labels = ns.Labels.Where(l => l.Key != "kubernetes.io/metadata.name").ToDictionary() } });
        }

        await _client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(AdmissionPolicy.Policy());
        await _client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(AdmissionPolicy.Binding(OperatorNamespace));
        await _client.CoreV1.CreateNamespacedConfigMapAsync(AdmissionPolicy.Parameters(PodManifests.Options(), [CustodyPods.RouteSecret], OperatorNamespace), OperatorNamespace);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    [Theory]
    [MemberData(nameof(Legitimate))]
    public async Task Legitimate_pods_as_the_webhook_injects_them_are_admitted(string name)
    {
        var yaml = CustodyPods.Legitimate[name];
        var injected = Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(Injector.Inject(PodManifests.Pod(yaml), CustodyPods.Namespace).Patch!.ToUtf8Bytes())!.AsArray());

        var created = await _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(injected), "ci-payments");

        Assert.Equal("tollgate-meter", created.Spec.InitContainers[0].Name);
    }

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task Probes_the_webhook_of_old_let_through_are_denied_by_the_rule_that_covers_them(string attack)
    {
        var probe = CustodyPods.Attacks.Single(a => a.Name == attack);

        var denial = await DeniedAsync(OldWebhook(probe.Yaml));

        var rule = AdmissionPolicy.Rules.Single(r => r.Name == probe.Policy);
        Assert.Equal(HttpStatusCode.Forbidden, denial.Response.StatusCode);
        Assert.EndsWith(
            $"is forbidden: ValidatingAdmissionPolicy 'tollgate-key-custody' with binding 'tollgate-key-custody' denied request: {rule.Message}\"",
            Message(denial),
            StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllAttacks))]
    public async Task With_no_webhook_at_all_every_probe_is_denied(string attack)
    {
        var probe = CustodyPods.Attacks.Single(a => a.Name == attack);
        var hasMeter = PodManifests.Pod(probe.Yaml).Spec.InitContainers?.FirstOrDefault()?.Name == SidecarInjector.ContainerName;

        var denial = await DeniedAsync(PodManifests.Json(probe.Yaml));

        // Unmetered, unless the author wrote a meter of their own, which the rules on the meter refuse.
        Assert.Contains(AdmissionPolicy.Rules.Single(r => r.Name == (hasMeter ? "MeterProcess" : "Metered")).Message, Message(denial), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_opted_out_pod_is_admitted_without_a_meter_where_the_namespace_allows_it_but_gets_no_key()
    {
        var plain = PodManifests.Json(PodManifests.OptedOutPod);
        plain["metadata"]!["namespace"] = "ci-sandbox";
        var withKey = plain.DeepClone().AsObject();
        withKey["metadata"]!["name"] = "with-key";
        withKey["spec"]!["containers"]![0]!["envFrom"] = JsonNode.Parse("""[{ "secretRef": { "name": "tollgate-provider-keys" } }]""");

        var created = await _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(plain), "ci-sandbox");
        var denial = await DeniedAsync(withKey, "ci-sandbox");

        Assert.Null(created.Spec.InitContainers);
        Assert.Contains(AdmissionPolicy.Rules.Single(r => r.Name == "KeyEnv").Message, Message(denial), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("image", "\"registry.example.com/tollgate/meter:evil\"", "MeterProcess")]
    [InlineData("command", "[\"sh\", \"-c\", \"cat /etc/tollgate/secrets/*/*\"]", "MeterProcess")]
    [InlineData("lifecycle", "{ \"postStart\": { \"exec\": { \"command\": [\"sh\"] } } }", "MeterProcess")]
    [InlineData("startupProbe", "{ \"exec\": { \"command\": [\"sh\", \"-c\", \"cp -r /etc/tollgate/secrets /shared\"] } }", "MeterProcess")]
    [InlineData("envFrom", "[{ \"configMapRef\": { \"name\": \"hooks\" } }]", "MeterEnv")]
    [InlineData("env", "[{ \"name\": \"DOTNET_STARTUP_HOOKS\", \"value\": \"/shared/hook.dll\" }]", "MeterEnv")]
    [InlineData("volumeMounts", "[{ \"name\": \"workspace\", \"mountPath\": \"/shared\" }]", "MeterMounts")]
    public async Task A_meter_that_differs_from_the_injected_one_in_what_it_runs_or_reads_is_denied(string field, string json, string rule)
    {
        var pod = Injected(PodManifests.JobPod);
        pod["spec"]!["initContainers"]![0]![field] = JsonNode.Parse(json);

        var denial = await DeniedAsync(pod);

        Assert.Contains(AdmissionPolicy.Rules.Single(r => r.Name == rule).Message, Message(denial), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--allow-unmetered")]
    [InlineData("--pricing", "/shared/free.yaml")]
    [InlineData("--ledger", "redis://attacker:6379")]
    public async Task A_meter_with_flags_the_webhook_does_not_write_is_denied(params string[] extra)
    {
        var pod = Injected(PodManifests.JobPod);
        foreach (var arg in extra)
        {
            pod["spec"]!["initContainers"]![0]!["args"]!.AsArray().Add(arg);
        }

        var denial = await DeniedAsync(pod);

        Assert.Contains(AdmissionPolicy.Rules.Single(r => r.Name == "MeterArgs").Message, Message(denial), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cost-center=cc-4711", "cost-center=cc-0001")]
    [InlineData("--namespace-label", "--tag")]
    [InlineData("ci-payments", "ci-other")]
    public async Task A_meter_claiming_other_namespace_labels_or_another_namespace_is_denied(string from, string to)
    {
        var pod = Injected(PodManifests.JobPod);
        var args = pod["spec"]!["initContainers"]![0]!["args"]!.AsArray();
        var index = args.Select(a => (string?)a).ToList().IndexOf(from);
        args[index] = to;

        var denial = await DeniedAsync(pod);

        Assert.Contains(AdmissionPolicy.Rules.Single(r => r.Name == "MeterArgs").Message, Message(denial), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Changing_the_meter_image_of_a_running_pod_is_denied()
    {
        var created = await _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(Injected(PodManifests.JobPod)), "ci-payments");
        created.Spec.InitContainers[0].Image = "registry.example.com/tollgate/meter:evil";

        var denial = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReplaceNamespacedPodAsync(created, created.Metadata.Name, "ci-payments"));

        Assert.Contains(AdmissionPolicy.Rules.Single(r => r.Name == "MeterProcess").Message, Message(denial), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_its_parameters_the_policy_denies_every_pod_of_a_metered_namespace()
    {
        await _client.CoreV1.DeleteNamespacedConfigMapAsync(AdmissionPolicy.ParamsName, OperatorNamespace);

        var denial = await DeniedAsync(Injected(PodManifests.JobPod));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, denial.Response.StatusCode);
        Assert.Contains("no params found for policy binding with `Deny` parameterNotFoundAction", Message(denial), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pods_of_namespaces_that_are_not_metered_are_not_judged()
    {
        var pod = PodManifests.Json(CustodyPods.Attacks.Single(a => a.Name == "asks for hostNetwork").Yaml);
        pod["metadata"]!["namespace"] = "default";

        var created = await _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(pod), "default");

        Assert.True(created.Spec.HostNetwork);
    }

    /// <summary>What the webhook did before it checked custody: skip a pod that opts out or has a meter-named container, else inject.</summary>
    private static JsonObject OldWebhook(string yaml)
    {
        var pod = PodManifests.Pod(yaml);
        var skip = pod.Metadata.Annotations?.TryGetValue(SidecarInjector.InjectAnnotation, out var inject) == true && inject.Trim().Equals("false", StringComparison.OrdinalIgnoreCase)
            || (pod.Spec.InitContainers ?? []).Concat(pod.Spec.Containers).Any(c => c.Name == SidecarInjector.ContainerName);
        return skip
            ? PodManifests.Json(yaml)
            : Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(Injector.Patch(pod, CustodyPods.Namespace).ToUtf8Bytes())!.AsArray()).AsObject();
    }

    private static JsonObject Injected(string yaml) =>
        Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(Injector.Inject(PodManifests.Pod(yaml), CustodyPods.Namespace).Patch!.ToUtf8Bytes())!.AsArray()).AsObject();

    private async Task<HttpOperationException> DeniedAsync(JsonObject pod, string ns = "ci-payments") =>
        await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(pod), ns));

    private static string Message(HttpOperationException e) => (string)JsonNode.Parse(e.Response.Content)!["message"]! + "\"";
}
