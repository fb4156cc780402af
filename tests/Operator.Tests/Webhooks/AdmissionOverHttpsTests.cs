using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using k8s.Models;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

/// <summary>Real AdmissionReviews over HTTPS to the real host; the returned patch applied to the pod as the API server would.</summary>
public sealed class AdmissionOverHttpsTests : IAsyncLifetime
{
    private readonly FakeNamespaceLookup _namespaces = new(PodManifests.MeteredNamespace, PodManifests.PlainNamespace, PodManifests.OptOutNamespace);
    private WebhookServer _server = null!;

    public async Task InitializeAsync() => _server = await WebhookServer.StartAsync(_namespaces);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Response_echoes_the_request_uid_allows_and_carries_a_base64_json_patch()
    {
        var review = await _server.ReviewAsync(PodManifests.Json(PodManifests.JobPod), "ci-payments", "8b3b1a5e-7d49-4f1e-9a53-2f0f4b1c2d11");

        Assert.Equal("admission.k8s.io/v1", (string?)review["apiVersion"]);
        Assert.Equal("AdmissionReview", (string?)review["kind"]);
        var response = review["response"]!;
        Assert.Equal("8b3b1a5e-7d49-4f1e-9a53-2f0f4b1c2d11", (string?)response["uid"]);
        Assert.True((bool)response["allowed"]!);
        Assert.Equal("JSONPatch", (string?)response["patchType"]);
        var patch = JsonNode.Parse(Convert.FromBase64String((string)response["patch"]!))!.AsArray();
        Assert.All(patch, op => Assert.Contains((string?)op!["op"], new[] { "add", "replace" }));
    }

    [Fact]
    public async Task Job_pod_gets_the_meter_as_the_only_init_container_with_restart_policy_always()
    {
        var pod = await AdmitAsync(PodManifests.JobPod);

        var sidecar = Assert.Single(pod.Spec.InitContainers);
        Assert.Equal("tollgate-meter", sidecar.Name);
        Assert.Equal("Always", sidecar.RestartPolicy);
        Assert.Equal("registry.example.com/tollgate/meter:1.0.0", sidecar.Image);
        Assert.Equal("Never", pod.Spec.RestartPolicy);
        Assert.Equal(["agent", "reporter"], pod.Spec.Containers.Select(c => c.Name));
    }

    [Fact]
    public async Task Job_containers_get_the_meter_base_urls_and_a_preset_provider_url_is_overridden()
    {
        var pod = await AdmitAsync(PodManifests.JobPod);

        var agent = pod.Spec.Containers[0];
        Assert.Equal(
            ["ANTHROPIC_BASE_URL=http://127.0.0.1:8787", "GIT_SHA=3f2a9c1", "OPENAI_BASE_URL=http://127.0.0.1:8787/v1"],
            agent.Env.Select(e => $"{e.Name}={e.Value}"));
        var reporter = pod.Spec.Containers[1];
        Assert.Equal(
            ["ANTHROPIC_BASE_URL=http://127.0.0.1:8787", "OPENAI_BASE_URL=http://127.0.0.1:8787/v1"],
            reporter.Env.Select(e => $"{e.Name}={e.Value}"));
        Assert.DoesNotContain(pod.Spec.InitContainers[0].Env, e => e.Name.EndsWith("_BASE_URL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Provider_keys_policy_and_secret_mounts_reach_only_the_sidecar()
    {
        var pod = await AdmitAsync(PodManifests.JobPod);
        var sidecar = pod.Spec.InitContainers[0];

        var anthropic = Assert.Single(sidecar.Env, e => e.Name == "TOLLGATE_ANTHROPIC_API_KEY").ValueFrom.SecretKeyRef;
        Assert.Equal(("tollgate-provider-keys", "anthropic", true), (anthropic.Name, anthropic.Key, anthropic.Optional));
        var openAi = Assert.Single(sidecar.Env, e => e.Name == "TOLLGATE_OPENAI_API_KEY").ValueFrom.SecretKeyRef;
        Assert.Equal(("tollgate-provider-keys", "openai", true), (openAi.Name, openAi.Key, openAi.Optional));
        Assert.Equal(
            ["tollgate-policy:/etc/tollgate/policy:True", "tollgate-provider-keys:/etc/tollgate/secrets/tollgate-provider-keys:True", "tollgate-spool:/var/lib/tollgate:", "tollgate-tmp:/tmp:"],
            sidecar.VolumeMounts.Select(m => $"{m.Name}:{m.MountPath}:{m.ReadOnlyProperty}"));

        foreach (var container in pod.Spec.Containers)
        {
            Assert.DoesNotContain(container.Env, e => e.ValueFrom?.SecretKeyRef is not null || e.Name.StartsWith("TOLLGATE_", StringComparison.Ordinal));
            Assert.DoesNotContain(container.VolumeMounts ?? [], m => m.Name.StartsWith("tollgate-", StringComparison.Ordinal));
        }

        Assert.Equal(
            ["workspace", "tollgate-policy", "tollgate-provider-keys", "tollgate-spool", "tollgate-tmp"],
            pod.Spec.Volumes.Select(v => v.Name));
        var policy = pod.Spec.Volumes[1].ConfigMap;
        Assert.Equal(("tollgate-policy", null), (policy.Name, policy.Optional));
        var keys = pod.Spec.Volumes[2].Secret;
        Assert.Equal(("tollgate-provider-keys", true), (keys.SecretName, keys.Optional));
    }

    [Fact]
    public async Task Sidecar_command_line_carries_namespace_and_identity_tags_resolved_through_the_downward_api()
    {
        var pod = await AdmitAsync(PodManifests.JobPod);
        var sidecar = pod.Spec.InitContainers[0];

        Assert.Equal(
            [
                ("TOLLGATE_TAG_TEAM", "metadata.labels['tollgate.io/team']"),
                ("TOLLGATE_TAG_REPO", "metadata.annotations['tollgate.io/repo']"),
                ("TOLLGATE_TAG_PIPELINE", "metadata.labels['tollgate.io/pipeline']"),
            ],
            sidecar.Env.Where(e => e.ValueFrom?.FieldRef is not null).Select(e => (e.Name, e.ValueFrom.FieldRef.FieldPath)));
        Assert.Equal(
            [
                "--listen", "127.0.0.1:8787",
                "--admin-listen", "0.0.0.0:9464",
                "--policy", "/etc/tollgate/policy",
                "--ledger", "rediss://tollgate-redis.tollgate-system.svc:6379",
                "--spool", "/var/lib/tollgate/usage.spool",
                "--secrets-dir", "/etc/tollgate/secrets",
                "--namespace", "ci-payments",
                "--namespace-label", "cost-center=cc-4711",
                "--namespace-label", "kubernetes.io/metadata.name=ci-payments",
                "--namespace-label", "tollgate.io/meter=enabled",
                "--tag", "team=payments",
                "--tag", "repo=acme/checkout",
                "--tag", "pipeline=pr-review",
            ],
            PodManifests.ExpandedArgs(pod, sidecar));
    }

    [Fact]
    public async Task Sidecar_is_gated_on_startupz_reports_readyz_and_runs_locked_down()
    {
        var pod = await AdmitAsync(PodManifests.JobPod);
        var sidecar = pod.Spec.InitContainers[0];

        // The start of the job's containers waits for the meter to serve, not for the ledger (issue 16, item 7).
        Assert.Equal(("/startupz", "9464"), (sidecar.StartupProbe.HttpGet.Path, sidecar.StartupProbe.HttpGet.Port.Value));
        Assert.Equal(("/readyz", "9464"), (sidecar.ReadinessProbe.HttpGet.Path, sidecar.ReadinessProbe.HttpGet.Port.Value));
        var security = sidecar.SecurityContext;
        Assert.True(security.RunAsNonRoot);
        Assert.False(security.AllowPrivilegeEscalation);
        Assert.True(security.ReadOnlyRootFilesystem);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Equal("RuntimeDefault", security.SeccompProfile.Type);
        Assert.Equal(9464, Assert.Single(sidecar.Ports).ContainerPort);
        Assert.Equal("128Mi", sidecar.Resources.Requests["memory"].ToString());
    }

    [Fact]
    public async Task Pod_is_annotated_as_injected_and_keeps_its_own_annotations()
    {
        var pod = await AdmitAsync(PodManifests.JobPod);

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["tollgate.io/repo"] = "acme/checkout",
                ["kubectl.kubernetes.io/default-container"] = "agent",
                ["tollgate.io/injected"] = "true",
            },
            pod.Metadata.Annotations);
    }

    [Fact]
    public async Task Second_admission_of_the_patched_pod_yields_no_patch()
    {
        var patched = await AdmitJsonAsync(PodManifests.JobPod);

        var again = (await _server.ReviewAsync(patched.AsObject(), "ci-payments", "uid-2"))["response"]!;

        Assert.Equal("uid-2", (string?)again["uid"]);
        Assert.True((bool)again["allowed"]!);
        Assert.Null(again["patch"]);
        Assert.Null(again["patchType"]);
    }

    [Fact]
    public async Task Sidecar_goes_before_existing_init_containers_which_get_the_base_urls_too()
    {
        var pod = await AdmitAsync(PodManifests.PodWithInitContainers);

        Assert.Equal(["tollgate-meter", "clone", "plan-tests"], pod.Spec.InitContainers.Select(c => c.Name));
        Assert.Equal(
            ["REPO_URL=https://git.example.com/acme/storefront.git", "ANTHROPIC_BASE_URL=http://127.0.0.1:8787", "OPENAI_BASE_URL=http://127.0.0.1:8787/v1"],
            pod.Spec.InitContainers[1].Env.Select(e => $"{e.Name}={e.Value}"));
        Assert.Equal(["ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"], pod.Spec.InitContainers[2].Env.Select(e => e.Name));
        Assert.Equal(["ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"], pod.Spec.Containers[0].Env.Select(e => e.Name));
        Assert.Equal(["tollgate-policy", "tollgate-provider-keys", "tollgate-spool", "tollgate-tmp"], pod.Spec.Volumes.Select(v => v.Name));
        Assert.Equal(new Dictionary<string, string> { ["tollgate.io/injected"] = "true" }, pod.Metadata.Annotations);
    }

    [Fact]
    public async Task Only_identity_tags_whose_label_or_annotation_exists_are_passed_and_fallback_sources_count()
    {
        var pod = await AdmitAsync(PodManifests.PodWithInitContainers);
        var sidecar = pod.Spec.InitContainers[0];

        Assert.Equal(
            [("TOLLGATE_TAG_TEAM", "metadata.labels['app.kubernetes.io/part-of']")],
            sidecar.Env.Where(e => e.ValueFrom?.FieldRef is not null).Select(e => (e.Name, e.ValueFrom.FieldRef.FieldPath)));
        var args = PodManifests.ExpandedArgs(pod, sidecar);
        Assert.Equal(["team=storefront"], args.Where((_, i) => i > 0 && args[i - 1] == "--tag"));
    }

    [Theory]
    [InlineData(nameof(PodManifests.OptedOutPod), "ci-sandbox")]
    [InlineData(nameof(PodManifests.UnmeteredNamespacePod), "default")]
    public async Task Pods_that_must_not_be_metered_are_admitted_unchanged(string manifest, string podNamespace)
    {
        var yaml = (string)typeof(PodManifests).GetField(manifest)!.GetValue(null)!;

        var response = (await _server.ReviewAsync(PodManifests.Json(yaml), podNamespace, "uid-skip"))["response"]!;

        Assert.Equal("uid-skip", (string?)response["uid"]);
        Assert.True((bool)response["allowed"]!);
        Assert.Null(response["patch"]);
    }

    [Fact]
    public async Task A_failing_namespace_lookup_denies_the_pod_so_its_controller_retries()
    {
        _namespaces.Failure = new HttpRequestException("api server unreachable");

        var response = (await _server.ReviewAsync(PodManifests.Json(PodManifests.JobPod), "ci-payments", "uid-fail"))["response"]!;

        Assert.Equal("uid-fail", (string?)response["uid"]);
        Assert.False((bool)response["allowed"]!);
        Assert.Null(response["patch"]);
        Assert.Equal(403, (int)response["status"]!["code"]!);
        var message = (string)response["status"]!["message"]!;
        Assert.StartsWith("the Tollgate webhook could not decide on this pod (see the operator's log); retry.", message, StringComparison.Ordinal);
        Assert.DoesNotContain("api server unreachable", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_namespace_the_cache_has_not_seen_is_denied_with_a_retry_hint()
    {
        var response = (await _server.ReviewAsync(PodManifests.Json(PodManifests.JobPod), "ci-new", "uid-new"))["response"]!;

        Assert.False((bool)response["allowed"]!);
        Assert.StartsWith("Tollgate has not seen namespace ci-new yet; retry in a few seconds.", (string)response["status"]!["message"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Updates_are_admitted_without_a_patch()
    {
        var response = (await _server.ReviewAsync(PodManifests.Json(PodManifests.JobPod), "ci-payments", "uid-update", operation: "UPDATE"))["response"]!;

        Assert.True((bool)response["allowed"]!);
        Assert.Null(response["patch"]);
    }

    [Fact]
    public async Task A_body_that_is_no_admission_review_gets_400()
    {
        using var content = new StringContent("{\"kind\":", Encoding.UTF8, "application/json");

        var response = await _server.CreateClient().PostAsync("mutate-pods", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Healthz_answers_ok_over_https()
    {
        var response = await _server.CreateClient().GetAsync("healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_client_that_trusts_another_ca_refuses_the_webhook()
    {
        // Real clock: TLS checks validity against it, so the certificate is issued by it (no fixed date).
        using var other = WebhookCertificates.Issue(WebhookServer.Service, WebhookServer.Namespace, TimeProvider.System);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => _server.CreateClient(other.TrustedCas()).GetAsync("healthz"));

        Assert.IsType<System.Security.Authentication.AuthenticationException>(error.InnerException);
    }

    [Fact]
    public async Task A_renewed_certificate_is_served_to_new_connections_and_the_bundle_trusts_old_and_new()
    {
        // Real clock, as above: a real TLS handshake checks the renewed certificate against it.
        using var renewed = WebhookCertificates.Issue(WebhookServer.Service, WebhookServer.Namespace, TimeProvider.System, _server.Certificate);
        var bundle = renewed.TrustedCas();
        Assert.Equal([renewed.Ca.Thumbprint, _server.Certificate.Ca.Thumbprint], bundle.Select(c => c.Thumbprint));

        Assert.Equal(HttpStatusCode.OK, (await _server.CreateClient(bundle).GetAsync("healthz")).StatusCode);
        _server.Source.Set(renewed);
        Assert.Equal(HttpStatusCode.OK, (await _server.CreateClient(bundle).GetAsync("healthz")).StatusCode);

        Assert.Equal([_server.Certificate.Serving.Thumbprint, renewed.Serving.Thumbprint], _server.PresentedCertificates);
        await Assert.ThrowsAsync<HttpRequestException>(() => _server.CreateClient(new X509Certificate2Collection(_server.Certificate.Ca)).GetAsync("healthz"));
    }

    private async Task<JsonNode> AdmitJsonAsync(string yaml)
    {
        var original = PodManifests.Json(yaml);
        var response = (await _server.ReviewAsync(original, "ci-payments", Guid.NewGuid().ToString()))["response"]!;
        var patch = JsonNode.Parse(Convert.FromBase64String((string)response["patch"]!))!.AsArray();
        return Rfc6902.Apply(original, patch);
    }

    private async Task<V1Pod> AdmitAsync(string yaml) => PodManifests.Pod(await AdmitJsonAsync(yaml));
}
