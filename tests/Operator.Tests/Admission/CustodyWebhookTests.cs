using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s.Models;
using Microsoft.Extensions.Options;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Admission;

/// <summary>The webhook against every probe of issue 14, and against pods that must keep working.</summary>
public sealed class CustodyWebhookTests : IAsyncLifetime
{
    private static readonly SidecarInjector Injector = new(Options.Create(PodManifests.Options()));
    private readonly FakeNamespaceLookup _namespaces = new(CustodyPods.Namespace, PodManifests.OptOutNamespace);
    private WebhookServer _server = null!;

    public static TheoryData<string> Attacks => [.. CustodyPods.Attacks.Select(a => a.Name)];

    public static TheoryData<string> Legitimate => [.. CustodyPods.Legitimate.Keys];

    public async Task InitializeAsync() => _server = await WebhookServer.StartAsync(_namespaces);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [MemberData(nameof(Attacks))]
    public void Every_probe_is_denied_with_what_is_wrong(string attack)
    {
        var probe = CustodyPods.Attacks.Single(a => a.Name == attack);

        var result = Injector.Inject(PodManifests.Pod(probe.Yaml), CustodyPods.Namespace);

        Assert.Equal(InjectionOutcome.Denied, result.Outcome);
        Assert.Null(result.Patch);
        Assert.Contains(result.Violations, v => v.Contains(probe.Webhook, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Legitimate))]
    public void Legitimate_pods_are_injected_and_their_re_admission_is_a_no_op(string name)
    {
        var yaml = CustodyPods.Legitimate[name];

        var first = Injector.Inject(PodManifests.Pod(yaml), CustodyPods.Namespace);
        var injected = Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(first.Patch!.ToUtf8Bytes())!.AsArray());
        var second = Injector.Inject(PodManifests.Pod(injected), CustodyPods.Namespace);

        Assert.Equal(InjectionOutcome.Injected, first.Outcome);
        Assert.Equal((InjectionOutcome.AlreadyInjected, null), (second.Outcome, second.Patch));
        Assert.Empty(second.Violations);
    }

    [Fact]
    public void Re_admission_after_the_api_server_defaulted_the_meter_is_still_a_no_op()
    {
        var injected = Injected(PodManifests.JobPod);
        var meter = injected["spec"]!["initContainers"]![0]!.AsObject();
        meter["terminationMessagePath"] = "/dev/termination-log";
        meter["terminationMessagePolicy"] = "File";
        meter["startupProbe"]!["successThreshold"] = 1;
        foreach (var variable in meter["env"]!.AsArray().Where(v => v!["valueFrom"]?["fieldRef"] is not null))
        {
            variable!["valueFrom"]!["fieldRef"]!["apiVersion"] = "v1";
        }

        foreach (var volume in injected["spec"]!["volumes"]!.AsArray().Where(v => v!["secret"] is not null || v!["configMap"] is not null))
        {
            (volume!["secret"] ?? volume["configMap"])!["defaultMode"] = 420;
        }

        Assert.Equal(InjectionOutcome.AlreadyInjected, Injector.Inject(PodManifests.Pod(injected), CustodyPods.Namespace).Outcome);
    }

    [Theory]
    [InlineData("image", "\"registry.example.com/tollgate/meter:evil\"")]
    [InlineData("command", "[\"sh\", \"-c\", \"cat /etc/tollgate/secrets/*/*\"]")]
    [InlineData("lifecycle", "{ \"postStart\": { \"exec\": { \"command\": [\"sh\"] } } }")]
    [InlineData("envFrom", "[{ \"configMapRef\": { \"name\": \"hooks\" } }]")]
    public void A_copied_meter_changed_in_what_it_runs_is_denied(string field, string json)
    {
        var injected = Injected(PodManifests.JobPod);
        injected["spec"]!["initContainers"]![0]![field] = JsonNode.Parse(json);

        var result = Injector.Inject(PodManifests.Pod(injected), CustodyPods.Namespace);

        Assert.Equal(InjectionOutcome.Denied, result.Outcome);
        Assert.StartsWith("container tollgate-meter: the name is reserved", result.Violations[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_copied_meter_with_an_args_flag_added_is_denied()
    {
        var injected = Injected(PodManifests.JobPod);
        injected["spec"]!["initContainers"]![0]!["args"]!.AsArray().Add("--allow-unmetered");

        Assert.Equal(InjectionOutcome.Denied, Injector.Inject(PodManifests.Pod(injected), CustodyPods.Namespace).Outcome);
    }

    [Fact]
    public void An_injected_pod_whose_meter_volume_was_swapped_for_a_host_path_is_denied()
    {
        var injected = Injected(PodManifests.JobPod);
        var spool = injected["spec"]!["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "tollgate-spool")!.AsObject();
        spool.Remove("emptyDir");
        spool["hostPath"] = new JsonObject { ["path"] = "/var/lib/kubelet" };

        Assert.Equal(InjectionOutcome.Denied, Injector.Inject(PodManifests.Pod(injected), CustodyPods.Namespace).Outcome);
    }

    [Fact]
    public void Opted_out_pods_in_a_namespace_that_allows_it_still_get_no_key()
    {
        const string yaml = """
            apiVersion: v1
            kind: Pod
            metadata: { name: local-model, namespace: ci-sandbox, annotations: { tollgate.io/inject: "false" } }
            spec:
              containers:
                - name: job
                  image: busybox:1.36
                  env:
                    - name: ANTHROPIC_API_KEY
                      valueFrom: { secretKeyRef: { name: tollgate-provider-keys, key: anthropic } }
            """;

        var result = Injector.Inject(PodManifests.Pod(yaml), PodManifests.OptOutNamespace);

        Assert.Equal(InjectionOutcome.Denied, result.Outcome);
        Assert.Contains("reads Secret tollgate-provider-keys", Assert.Single(result.Violations), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Denial_over_https_is_a_403_whose_message_lists_every_finding_and_what_to_do()
    {
        var probe = CustodyPods.Attacks.Single(a => a.Name == "asks for hostNetwork");
        var pod = PodManifests.Json(probe.Yaml);
        pod["spec"]!["containers"]![0]!["envFrom"] = JsonNode.Parse("""[{ "secretRef": { "name": "tollgate-provider-keys" } }]""");

        var response = (await _server.ReviewAsync(pod, "ci-payments", "uid-deny"))["response"]!;

        Assert.Equal("uid-deny", (string?)response["uid"]);
        Assert.False((bool)response["allowed"]!);
        Assert.Null(response["patch"]);
        Assert.Equal((403, "Forbidden"), ((int)response["status"]!["code"]!, (string)response["status"]!["reason"]!));
        Assert.Equal(
            "hostNetwork: true is not allowed: it would put the meter's ports on the node; "
            + "container job: envFrom reads Secret tollgate-provider-keys, which holds provider keys that only the meter may read. "
            + "Tollgate meters model calls in this namespace and keeps the provider keys in its meter sidecar; job containers call models "
            + "through ANTHROPIC_BASE_URL/OPENAI_BASE_URL, which the meter sets. "
            + "See \"What a pod author can and cannot do in a metered namespace\" in Tollgate's README.",
            (string)response["status"]!["message"]!);
    }

    [Theory]
    [InlineData("tollgate-provider-keys", false)]
    [InlineData("tollgate-tmp", false)]
    [InlineData("workspace", true)]
    public async Task Ephemeral_containers_added_to_a_running_pod_may_mount_only_the_authors_volumes(string volume, bool allowed)
    {
        var pod = Injected(PodManifests.JobPod);
        pod["spec"]!["ephemeralContainers"] = JsonNode.Parse($$"""
            [{ "name": "debugger", "image": "busybox:1.36", "volumeMounts": [{ "name": "{{volume}}", "mountPath": "/x" }] }]
            """);
        var review = WebhookServer.Review(pod, "ci-payments", "uid-eph", "UPDATE");
        review["request"]!["subResource"] = "ephemeralcontainers";
        review["request"]!["oldObject"] = Injected(PodManifests.JobPod);

        var response = await PostAsync(review);

        Assert.Equal(allowed, (bool)response["allowed"]!);
        Assert.Null(response["patch"]);
        if (!allowed)
        {
            Assert.StartsWith($"ephemeral container debugger mounts volume {volume}, which belongs to the meter.", (string)response["status"]!["message"]!, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Ephemeral_containers_may_not_read_key_secrets_through_env()
    {
        var pod = Injected(PodManifests.JobPod);
        pod["spec"]!["ephemeralContainers"] = JsonNode.Parse("""
            [{ "name": "debugger", "image": "busybox:1.36", "envFrom": [{ "secretRef": { "name": "team-anthropic-key" } }] }]
            """);
        var review = WebhookServer.Review(pod, "ci-payments", "uid-eph-env", "UPDATE");
        review["request"]!["subResource"] = "ephemeralcontainers";

        var response = await PostAsync(review);

        Assert.False((bool)response["allowed"]!);
    }

    [Fact]
    public async Task A_review_larger_than_the_bound_gets_413_before_it_is_parsed()
    {
        var pod = PodManifests.Json(PodManifests.JobPod);
        pod["metadata"]!["annotations"]!["padding"] = new string('x', (int)AdmissionEndpoint.MaxReviewBytes);
        using var content = new StringContent(WebhookServer.Review(pod, "ci-payments", "uid-big").ToJsonString(), Encoding.UTF8, "application/json");

        var response = await _server.CreateClient().PostAsync("mutate-pods", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task A_chunked_review_larger_than_the_bound_gets_413_too()
    {
        var pod = PodManifests.Json(PodManifests.JobPod);
        pod["metadata"]!["annotations"]!["padding"] = new string('x', (int)AdmissionEndpoint.MaxReviewBytes);
        using var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(WebhookServer.Review(pod, "ci-payments", "uid-big").ToJsonString())));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "mutate-pods") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await _server.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    private async Task<JsonNode> PostAsync(JsonObject review)
    {
        using var content = new StringContent(review.ToJsonString(), Encoding.UTF8, "application/json");
        var response = await _server.CreateClient().PostAsync("mutate-pods", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["response"]!;
    }

    private static JsonObject Injected(string yaml) =>
        Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(Injector.Inject(PodManifests.Pod(yaml), CustodyPods.Namespace).Patch!.ToUtf8Bytes())!.AsArray()).AsObject();
}
