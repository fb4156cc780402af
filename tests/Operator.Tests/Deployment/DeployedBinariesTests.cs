using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;
using static Tollgate.Operator.Tests.Deployment.PodSandbox;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// Every binary starts as it is deployed: the operator and the exporter with the exact <c>args</c> and <c>env</c> of their
/// Deployments in the rendered <c>config/default</c>, the meter with the exact container the running operator's webhook
/// injects into a pod; each against the fake API server and a real Redis, until its readiness probe passes.
/// </summary>
public sealed class DeployedBinariesTests(DeployedSystem system) : IClassFixture<DeployedSystem>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Operator_from_its_Deployment_is_ready_leads_under_its_pod_name_and_publishes_the_webhook_ca()
    {
        // Ready already (the fixture waited on its readinessProbe); these show its flags took effect.
        var lease = await EventuallyAsync(() => system.Api.Get("coordination.k8s.io", "v1", "leases", DeployedSystem.SystemNamespace, "tollgate-operator"));
        Assert.Equal("tollgate-operator-7c9d5f6b8-x2kqz", lease["spec"]!["holderIdentity"]!.GetValue<string>());

        var secret = await EventuallyAsync(() => system.Api.Get("", "v1", "secrets", DeployedSystem.SystemNamespace, "tollgate-webhook-tls"));
        Assert.Equal("kubernetes.io/tls", secret["type"]!.GetValue<string>());
        Assert.NotEmpty(await CaBundleAsync());
    }

    [Fact]
    public async Task Exporter_from_its_Deployment_is_ready_and_its_usage_api_takes_the_token_from_the_Secret()
    {
        // The policy volume (ConfigMap tollgate-exporter-policy) is optional and absent here: the exporter must start
        // without it, as on a fresh install. The export token Secret exists, as the README has it created.
        await using var pod = new PodSandbox(system.PodOf("tollgate-exporter", "tollgate-exporter-6f7b9c4d5-q8r2m"), system.Api, system.Services);

        pod.Start("exporter");
        await pod.WaitUntilReadyAsync("exporter", CancellationToken.None);

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{pod.LocalPort(9465)}") };
        Assert.Contains("tollgate_ledger_ready 1", await client.GetStringAsync("/metrics", CancellationToken.None), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, await UsageStatusAsync(client, "not-the-token"));
        Assert.NotEqual(HttpStatusCode.Unauthorized, await UsageStatusAsync(client, "s3cret-export-token"));
    }

    private static async Task<HttpStatusCode> UsageStatusAsync(HttpClient client, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/usage") { Headers = { { "Authorization", $"Bearer {token}" } } };
        using var response = await client.SendAsync(request, CancellationToken.None);
        return response.StatusCode;
    }

    [Fact]
    public async Task Meter_as_the_operator_webhook_injects_it_is_ready()
    {
        var ct = CancellationToken.None;
        await using var sandbox = new PodSandbox(await AdmittedJobPodAsync("pr-review-28431-7xk2p", ct), system.Api, system.Services);
        sandbox.Start(SidecarInjector.ContainerName);
        await sandbox.WaitUntilReadyAsync(SidecarInjector.ContainerName, ct);
    }

    [Fact]
    public async Task Meter_as_injected_passes_its_startup_probe_while_redis_is_down_and_turns_ready_when_it_returns()
    {
        var ct = CancellationToken.None;
        var admitted = await AdmittedJobPodAsync("pr-review-28432-9fz1q", ct);
        await using var sandbox = new PodSandbox(admitted, system.Api, system.Services);
        await system.Redis.KillAsync();
        try
        {
            // The kubelet starts the job's containers once the sidecar's startup probe passes: a ledger outage must not hold them.
            sandbox.Start(SidecarInjector.ContainerName);
            await sandbox.WaitUntilProbePassesAsync(SidecarInjector.ContainerName, "startupProbe", ct);
            var readiness = await sandbox.ProbeAsync(SidecarInjector.ContainerName, "readinessProbe", ct);
            Assert.Equal((503, "ledger redis cannot record spend\n"), readiness);
        }
        finally
        {
            await system.Redis.RestartAsync();
        }

        await sandbox.WaitUntilReadyAsync(SidecarInjector.ContainerName, ct);
        Assert.Equal((200, "ready\n"), await sandbox.ProbeAsync(SidecarInjector.ContainerName, "readinessProbe", ct));
    }

    /// <summary>A job pod as the API server admits it: through the operator's webhook, with its policy ConfigMap written.</summary>
    private async Task<JsonObject> AdmittedJobPodAsync(string name, CancellationToken ct)
    {
        var pod = PodManifests.Json(PodManifests.JobPod);
        pod["metadata"]!["name"] = name;

        // The API server's call: through the Service named in the webhook configuration, trusting only its caBundle.
        var configuration = system.Api.Get("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", null, "tollgate-pod-meter")!;
        var clientConfig = configuration["webhooks"]![0]!["clientConfig"]!["service"]!;
        var review = await ReviewAsync(clientConfig, WebhookServerReview(pod), ct);
        var response = review["response"]!;
        Assert.True(response["allowed"]!.GetValue<bool>());
        Assert.Equal("JSONPatch", response["patchType"]!.GetValue<string>());
        var admitted = Rfc6902.Apply(pod, Encoding.UTF8.GetString(Convert.FromBase64String(response["patch"]!.GetValue<string>()))).AsObject();

        // The policy volume is not optional: the kubelet waits for the operator to write it, and so does this test.
        await EventuallyAsync(() => system.Api.Get("", "v1", "configmaps", DeployedSystem.MeteredNamespace, new SidecarOptions().PolicyConfigMapName));
        return admitted;
    }

    private static JsonObject WebhookServerReview(JsonObject pod) => WebhookServer.Review(pod, DeployedSystem.MeteredNamespace, "uid-deployed-meter");

    private async Task<JsonObject> ReviewAsync(JsonNode service, JsonObject review, CancellationToken ct)
    {
        var name = service["name"]!.GetValue<string>();
        var ns = service["namespace"]!.GetValue<string>();
        var servicePort = (service["port"] is { } port ? Int(port) : 443);
        var localPort = system.Operator.LocalPort(ServiceTargetPort(name, servicePort));
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPem(Encoding.UTF8.GetString(Convert.FromBase64String(await CaBundleAsync())));

        using var handler = new SocketsHttpHandler
        {
            // Cluster DNS and kube-proxy: the Service's name is what TLS checks, the operator's mapped port is where it goes.
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, localPort), token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                },
            },
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri($"https://{name}.{ns}.svc:{servicePort}") };
        using var answer = await client.PostAsJsonAsync(service["path"]!.GetValue<string>(), review, ct);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        return JsonNode.Parse(await answer.Content.ReadAsStringAsync(ct))!.AsObject();
    }

    /// <summary>The operator container port a Service port leads to (targetPort by name or number).</summary>
    private int ServiceTargetPort(string service, int port)
    {
        var rendered = system.Rendered.Single(o => o["kind"]!.GetValue<string>() == "Service" && o["metadata"]!["name"]!.GetValue<string>() == service);
        var target = rendered["spec"]!["ports"]!.AsArray().Single(p => Int(p!["port"]!) == port)!["targetPort"]!;
        if (target.GetValueKind() == System.Text.Json.JsonValueKind.Number)
        {
            return Int(target);
        }

        return Int(system.Operator.Container("operator")["ports"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == target.GetValue<string>())!["containerPort"]!);
    }

    private async Task<string> CaBundleAsync()
    {
        var configuration = await EventuallyAsync(() =>
            system.Api.Get("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", null, "tollgate-pod-meter") is { } c
            && c["webhooks"]![0]!["clientConfig"]!["caBundle"] is not null ? c : null);
        return configuration["webhooks"]![0]!["clientConfig"]!["caBundle"]!.GetValue<string>();
    }

    private async Task<JsonObject> EventuallyAsync(Func<JsonObject?> read)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (read() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Timed out; the operator logged:\n{system.Operator.Log}");

            // The operator writes through the API on its own schedule; the fake has no event a test could wait on here.
            await Task.Delay(50, CancellationToken.None);
        }
    }
}
