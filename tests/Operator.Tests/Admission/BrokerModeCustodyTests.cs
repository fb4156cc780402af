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
/// Broker mode (the default): the meter's pod-bound token and the CA instead of key Secrets, as the webhook injects it,
/// judged by the webhook and by the ValidatingAdmissionPolicy in the fake API server (real CEL): the injected pod is
/// admitted, and a job container that reaches for the meter's token, or declares one of its own, is refused.
/// </summary>
public sealed class BrokerModeCustodyTests : IAsyncLifetime, IAsyncDisposable
{
    private const string OperatorNamespace = "tollgate-system";
    private static readonly SidecarInjector Injector = new(Options.Create(PodManifests.BrokerOptions()));
    private FakeKubernetesApi _api = null!;
    private Kubernetes _client = null!;

    public static TheoryData<string> Legitimate => [.. CustodyPods.Legitimate.Keys];

    public async Task InitializeAsync()
    {
        _api = new FakeKubernetesApi();
        await _api.StartAsync();
        _client = new Kubernetes(_api.Configuration);
        foreach (var ns in new[] { CustodyPods.Namespace, new NamespaceInfo(OperatorNamespace, new Dictionary<string, string>()) })
        {
            await _client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns.Name, Labels = ns.Labels.Where(l => l.Key != "kubernetes.io/metadata.name").ToDictionary() } });
        }

        await _client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(AdmissionPolicy.Policy());
        await _client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(AdmissionPolicy.Binding(OperatorNamespace));
        await _client.CoreV1.CreateNamespacedConfigMapAsync(AdmissionPolicy.Parameters(PodManifests.BrokerOptions(), [CustodyPods.RouteSecret], OperatorNamespace), OperatorNamespace);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    [Fact]
    public void The_meter_gets_its_token_and_the_ca_in_its_own_volume_and_no_key_secret_or_key_env()
    {
        var ns = CustodyPods.Namespace with { RouteSecrets = ["openai-ci", "tollgate-provider-keys"] };
        var pod = PodManifests.Pod(Injected(PodManifests.JobPod, ns));
        var meter = pod.Spec.InitContainers[0];

        var mount = Assert.Single(meter.VolumeMounts, m => m.Name == SidecarInjector.IdentityVolume);
        Assert.Equal(("/var/run/secrets/tollgate.io/meter", true), (mount.MountPath, mount.ReadOnlyProperty));
        var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == SidecarInjector.IdentityVolume);
        var token = volume.Projected.Sources[0].ServiceAccountToken;
        Assert.Equal(("tollgate.io/meter", 600L, "token"), (token.Audience, token.ExpirationSeconds!.Value, token.Path));
        var ca = volume.Projected.Sources[1].ConfigMap;
        Assert.Equal(("tollgate-ca", "ca.crt", "ca.crt"), (ca.Name, Assert.Single(ca.Items).Key, ca.Items[0].Path));
        Assert.Null(ca.Optional);

        Assert.DoesNotContain(pod.Spec.Volumes, v => v.Secret is not null);
        Assert.DoesNotContain(meter.Env, e => e.ValueFrom?.SecretKeyRef is not null);
        Assert.All(pod.Spec.Containers, c => Assert.DoesNotContain(c.VolumeMounts ?? [], m => m.Name.StartsWith("tollgate-", StringComparison.Ordinal)));
        Assert.DoesNotContain("--secrets-dir", meter.Args);
        Assert.Equal(
            [
                "--key-broker", "https://tollgate-webhook.tollgate-system.svc/meter/v1/credentials",
                "--key-broker-token", "/var/run/secrets/tollgate.io/meter/token",
                "--key-broker-ca", "/var/run/secrets/tollgate.io/meter/ca.crt",
                // The default ledger is config/default's, TLS: its certificate is from the same CA.
                "--ledger-ca", "/var/run/secrets/tollgate.io/meter/ca.crt",
                "--namespace", "ci-payments",
            ],
            meter.Args.Skip(10).Take(10));
    }

    [Fact]
    public void A_tls_ledger_is_trusted_by_the_same_ca()
    {
        var options = PodManifests.BrokerOptions();
        options.Ledger = "rediss://tollgate-meter@tollgate-redis.tollgate-system:6380";
        var injector = new SidecarInjector(Options.Create(options));

        var args = injector.Sidecar(PodManifests.Pod(PodManifests.JobPod), CustodyPods.Namespace).Args;

        Assert.Equal("/var/run/secrets/tollgate.io/meter/ca.crt", args[args.IndexOf("--ledger-ca") + 1]);
        var plain = PodManifests.BrokerOptions();
        plain.Ledger = "redis://tollgate-redis.tollgate-system:6379";
        Assert.DoesNotContain("--ledger-ca", new SidecarInjector(Options.Create(plain)).Sidecar(PodManifests.Pod(PodManifests.JobPod), CustodyPods.Namespace).Args);
    }

    [Fact]
    public void The_injected_pod_as_the_api_server_stores_it_is_recognised_as_already_injected()
    {
        var pod = Injected(PodManifests.JobPod, CustodyPods.Namespace);
        // What the API server defaults on the way in.
        pod["spec"]!["volumes"]!.AsArray().Single(v => (string?)v!["name"] == SidecarInjector.IdentityVolume)!["projected"]!["defaultMode"] = 420;

        Assert.Equal(InjectionOutcome.AlreadyInjected, Injector.Inject(PodManifests.Pod(pod), CustodyPods.Namespace).Outcome);
    }

    [Fact]
    public void The_webhook_refuses_a_job_container_that_mounts_the_meters_identity_volume()
    {
        var pod = Injected(PodManifests.JobPod, CustodyPods.Namespace);
        pod["spec"]!["containers"]![0]!["volumeMounts"]!.AsArray().Add(new JsonObject { ["name"] = SidecarInjector.IdentityVolume, ["mountPath"] = "/steal" });

        var result = Injector.Inject(PodManifests.Pod(pod), CustodyPods.Namespace);

        Assert.Equal(InjectionOutcome.Denied, result.Outcome);
        Assert.Contains(result.Violations, v => v.Contains($"container agent mounts volume {SidecarInjector.IdentityVolume}, which belongs to the meter", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("tollgate.io/meter", true)]
    [InlineData("vault", false)]
    public void The_webhook_refuses_a_pod_that_declares_a_token_for_the_meters_audience(string audience, bool refused)
    {
        var pod = PodManifests.Json(PodManifests.JobPod);
        pod["spec"]!["volumes"]!.AsArray().Add(JsonNode.Parse($$"""{ "name": "id", "projected": { "sources": [ { "serviceAccountToken": { "audience": "{{audience}}", "path": "t" } } ] } }"""));

        var result = Injector.Inject(PodManifests.Pod(pod), CustodyPods.Namespace);

        Assert.Equal(refused ? InjectionOutcome.Denied : InjectionOutcome.Injected, result.Outcome);
    }

    [Theory]
    [MemberData(nameof(Legitimate))]
    public async Task Legitimate_pods_injected_in_broker_mode_are_admitted_by_the_policy(string name)
    {
        var created = await _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(Injected(CustodyPods.Legitimate[name], CustodyPods.Namespace)), "ci-payments");

        Assert.Contains(created.Spec.Volumes, v => v.Name == SidecarInjector.IdentityVolume);
    }

    [Fact]
    public async Task The_policy_refuses_a_job_container_that_mounts_the_meters_identity_volume()
    {
        var pod = Injected(PodManifests.JobPod, CustodyPods.Namespace);
        pod["spec"]!["containers"]![0]!["volumeMounts"]!.AsArray().Add(new JsonObject { ["name"] = SidecarInjector.IdentityVolume, ["mountPath"] = "/steal" });

        Assert.Contains(Rule("MeterVolumes"), await DeniedAsync(pod), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_policy_refuses_a_pod_with_its_own_token_for_the_meters_audience_even_unmounted()
    {
        var pod = Injected(PodManifests.JobPod, CustodyPods.Namespace);
        pod["spec"]!["volumes"]!.AsArray().Add(JsonNode.Parse("""{ "name": "id", "projected": { "sources": [ { "serviceAccountToken": { "audience": "tollgate.io/meter", "path": "t" } } ] } }"""));

        Assert.Contains(Rule("MeterToken"), await DeniedAsync(pod), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_policy_refuses_a_broker_mode_meter_that_claims_another_namespace()
    {
        var pod = Injected(PodManifests.JobPod, CustodyPods.Namespace);
        var args = pod["spec"]!["initContainers"]![0]!["args"]!.AsArray();
        args[args.Select(a => (string?)a).ToList().IndexOf("ci-payments")] = "ci-other";

        Assert.Contains(Rule("MeterArgs"), await DeniedAsync(pod), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_policy_refuses_a_meter_pointed_at_another_key_broker()
    {
        var pod = Injected(PodManifests.JobPod, CustodyPods.Namespace);
        var args = pod["spec"]!["initContainers"]![0]!["args"]!.AsArray();
        args[args.Select(a => (string?)a).ToList().IndexOf("--key-broker") + 1] = "https://attacker.example.com/meter/v1/credentials";

        Assert.Contains(Rule("MeterArgs"), await DeniedAsync(pod), StringComparison.Ordinal);
    }

    private static string Rule(string name) => AdmissionPolicy.Rules.Single(r => r.Name == name).Message;

    private static JsonObject Injected(string yaml, NamespaceInfo ns) =>
        Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(Injector.Inject(PodManifests.Pod(yaml), ns).Patch!.ToUtf8Bytes())!.AsArray()).AsObject();

    private async Task<string> DeniedAsync(JsonObject pod)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(pod), "ci-payments"));
        Assert.Equal(HttpStatusCode.Forbidden, e.Response.StatusCode);
        return (string)JsonNode.Parse(e.Response.Content)!["message"]!;
    }
}
