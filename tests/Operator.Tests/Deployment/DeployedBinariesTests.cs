using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport;
using static Tollgate.Operator.Tests.Deployment.PodSandbox;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// Every binary starts as it is deployed: the operator and the exporter with the exact <c>args</c> and <c>env</c> of their
/// Deployments in the rendered <c>config/default</c>, the meter with the exact container the running operator's webhook
/// injects into a pod; each against the fake API server and a real Redis, until its readiness probe passes.
/// </summary>
public sealed partial class DeployedBinariesTests(DeployedSystem system) : IClassFixture<DeployedSystem>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

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
        // The export token Secret exists, as the README has it created.
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{system.Exporter.LocalPort(9465)}") };
        Assert.Contains("tollgate_ledger_ready 1", await client.GetStringAsync("/metrics", CancellationToken.None), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, await UsageStatusAsync(client, "not-the-token"));
        Assert.NotEqual(HttpStatusCode.Unauthorized, await UsageStatusAsync(client, "s3cret-export-token"));
    }

    [Fact]
    public async Task Exporter_from_its_Deployment_publishes_the_limits_of_the_budgets_the_operator_writes_for_it_and_follows_a_change()
    {
        var ct = CancellationToken.None;
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{system.Exporter.LocalPort(9465)}") };

        // A budget with appliesPer publishes one series per scope that has spent, so each of those samples gets a charge.
        await SpendAsync(("transaction-service-daily", "transaction-service", BudgetPeriod.Day), ("review-agent-tokens", "pr-review", BudgetPeriod.Week));
        await EventuallyAsync(() => system.Api.Get("", "v1", "configmaps", DeployedSystem.SystemNamespace, ExporterPolicyController.ConfigMapName));
        system.Exporter.SyncVolumes();

        var limits = await EventuallyLimitsAsync(client, l => l.Count == 3);
        Assert.Equal(50d, limits["transaction-service-daily"]);
        Assert.Equal(2000d, limits["payments-platform-monthly-cap"]);
        Assert.Equal(5_000_000d, limits["review-agent-tokens"]);

        // "Reloaded when the operator changes it" (the Deployment's comment): an edited budget reaches the running exporter.
        using var kubernetes = new Kubernetes(system.Api.Configuration);
        await kubernetes.CustomObjects.PatchClusterCustomObjectAsync(
            new V1Patch("""{"spec":{"limit":{"amount":2500}}}""", V1Patch.PatchType.MergePatch), "tollgate.io", "v1alpha1", "aibudgets", "payments-platform-monthly-cap", cancellationToken: ct);
        await EventuallyAsync(() => system.Api.Get("", "v1", "configmaps", DeployedSystem.SystemNamespace, ExporterPolicyController.ConfigMapName) is { } cm
            && cm["data"]?[NamespacePolicyController.DataKey]?.GetValue<string>().Contains("amount: 2500", StringComparison.Ordinal) == true ? cm : null);
        system.Exporter.SyncVolumes();

        limits = await EventuallyLimitsAsync(client, l => l.GetValueOrDefault("payments-platform-monthly-cap") == 2500d);
        Assert.Equal(50d, limits["transaction-service-daily"]);
    }

    /// <summary>Settles a charge into the ledger's Redis for each (budget, scope), in the period that holds now and in the one that holds the test's deadline.</summary>
    private async Task SpendAsync(params (string Budget, string Scope, BudgetPeriod Period)[] charges)
    {
        // Real clock, like the operator and exporter processes that read these counters: the charges are dated now.
        // As a meter would: the meter's ACL user is the one that may settle.
        await using var ledger = await system.ConnectLedgerAsync("tollgate-ledger-meter", RedisLedgerAccess.ReadWrite);
        var now = DateTimeOffset.UtcNow;
        foreach (var (budget, scope, period) in charges)
        {
            // Both windows, so a test that runs across the end of a period still finds its scope in the current one.
            foreach (var window in new[] { PeriodWindow.Containing(period, now), PeriodWindow.Containing(period, now + Patience) }.Distinct())
            {
                var charge = new LedgerCharge(budget, scope, window, 1_000_000m, 1m, CanBlock: false);
                await ledger.SettleAsync(Guid.NewGuid().ToString("N"), [charge], [1m], CancellationToken.None);
            }
        }
    }

    /// <summary>The <c>tollgate_budget_limit</c> samples by budget.</summary>
    private static Dictionary<string, double> Limits(string metrics) => metrics
        .Split('\n')
        .Select(line => BudgetLimit().Match(line))
        .Where(m => m.Success)
        .ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>Scrapes until <paramref name="done"/>; the exporter looks at its policy folder at most every few seconds.</summary>
    private async Task<Dictionary<string, double>> EventuallyLimitsAsync(HttpClient client, Func<Dictionary<string, double>, bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var limits = Limits(await client.GetStringAsync("/metrics", CancellationToken.None));
            if (done(limits))
            {
                return limits;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Timed out; the exporter published {string.Join(", ", limits)} and logged:\n{system.Exporter.Log}");

            // Scraped as Prometheus does; the exporter offers nothing else to wait on.
            await Task.Delay(250, CancellationToken.None);
        }
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
        await using var sandbox = new PodSandbox(await AdmittedJobPodAsync("pr-review-28431-7xk2p", ct), system.Api, system.Services, system.Dns);
        sandbox.Start(SidecarInjector.ContainerName);
        await sandbox.WaitUntilReadyAsync(SidecarInjector.ContainerName, ct);
    }

    [Fact]
    public async Task Meter_as_injected_gets_the_provider_key_from_the_operators_broker_and_forwards_with_it()
    {
        var ct = CancellationToken.None;
        var admitted = await AdmittedJobPodAsync("pr-review-28433-k4v8n", ct);
        await using var sandbox = new PodSandbox(admitted, system.Api, system.Services, system.Dns);
        var meter = sandbox.Container(SidecarInjector.ContainerName);
        var args = meter["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();

        sandbox.Start(SidecarInjector.ContainerName);
        await sandbox.WaitUntilReadyAsync(SidecarInjector.ContainerName, ct);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sandbox.LocalPort(new SidecarOptions().ProxyPort)}") };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            // What a job container sends: no key at all; the meter adds the one it was given.
            Content = JsonContent.Create(new { model = "claude-sonnet-4-5", max_tokens = 64, messages = new[] { new { role = "user", content = "review this diff" } } }),
            Headers = { { "anthropic-version", "2023-06-01" } },
        };
        using var response = await client.SendAsync(request, ct);

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}\n{sandbox.Log}");
        Assert.Equal(DeployedSystem.ProviderKey, system.Provider.Requests[^1].ApiKey);
        // Nothing in the CI namespace holds it: not a Secret, not the pod spec.
        Assert.Empty(system.Api.Objects("", "v1", "secrets", DeployedSystem.MeteredNamespace));
        Assert.DoesNotContain(DeployedSystem.ProviderKey, admitted.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("https://tollgate-webhook.tollgate-system.svc/meter/v1/credentials", args[args.IndexOf("--key-broker") + 1]);
        Assert.DoesNotContain(DeployedSystem.ProviderKey, sandbox.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(DeployedSystem.ProviderKey, system.Operator.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Meter_as_injected_passes_its_startup_probe_while_redis_is_down_and_turns_ready_when_it_returns()
    {
        var ct = CancellationToken.None;
        var admitted = await AdmittedJobPodAsync("pr-review-28432-9fz1q", ct);
        await using var sandbox = new PodSandbox(admitted, system.Api, system.Services, system.Dns);
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
            system.Redis.Start("redis");
            await system.Redis.WaitUntilReadyAsync("redis", ct);
        }

        await sandbox.WaitUntilReadyAsync(SidecarInjector.ContainerName, ct);
        Assert.Equal((200, "ready\n"), await sandbox.ProbeAsync(SidecarInjector.ContainerName, "readinessProbe", ct));
    }

    [Fact]
    public async Task Redis_from_its_StatefulSet_serves_only_tls_and_its_acl_refuses_whoever_has_no_components_password()
    {
        var ct = CancellationToken.None;

        // The StatefulSet's readiness probe passed (the fixture waited on it): TLS with the operator's CA, no credentials.
        var (code, output) = await system.Redis.ExecProbeAsync("redis", "readinessProbe", ct);
        Assert.True(code == 0, output);

        // No plain-text port: a RESP PING in clear gets no PONG.
        using (var plain = new TcpClient())
        {
            await plain.ConnectAsync(system.RedisEndPoint, ct);
            var stream = plain.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), ct);
            var buffer = new byte[64];
            var read = await ReadSomeAsync(stream, buffer);
            Assert.DoesNotContain("PONG", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
        }

        // Over TLS, verified as tollgate-redis.tollgate-system.svc against the CA bundle clients mount.
        Assert.StartsWith("-NOAUTH", await TlsCommandAsync(null, null, "PING"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await TlsCommandAsync("default", "", "PING"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await TlsCommandAsync("tollgate-meter", system.SecretText("tollgate-ledger-exporter", "password"), "PING"), StringComparison.Ordinal);
        Assert.Equal("+PONG", await TlsCommandAsync("tollgate-meter", system.SecretText("tollgate-ledger-meter", "password"), "PING"));
        Assert.StartsWith("-NOPERM", await TlsCommandAsync("tollgate-meter", system.SecretText("tollgate-ledger-meter", "password"), "FLUSHALL"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exporter_and_operator_from_their_Deployments_reach_the_tls_ledger_as_their_own_users_and_mount_no_private_key()
    {
        // The exporter is ready only with its ledger (the fixture waited on that); it says so in its metrics too.
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{system.Exporter.LocalPort(9465)}") };
        Assert.Contains("tollgate_ledger_ready 1", await client.GetStringAsync("/metrics", CancellationToken.None), StringComparison.Ordinal);

        // The operator started before its Secrets existed and connected once the kubelet brought them in: budget
        // status then carries what the ledger holds.
        await SpendAsync(("transaction-service-daily", "transaction-service", BudgetPeriod.Day));
        await EventuallyAsync(() => system.Api.Get("tollgate.io", "v1alpha1", "aibudgets", null, "transaction-service-daily") is { } budget
            && budget["status"]?["spent"] is { } spent && decimal.Parse(spent.ToString(), CultureInfo.InvariantCulture) > 0 ? budget : null);
        Assert.Contains("connected to the ledger", system.Operator.Log, StringComparison.Ordinal);

        // Only their own password and the CA bundle are in their pods: not Redis' private key, not another user's password.
        foreach (var (deployment, secret) in new[] { ("tollgate-exporter", "tollgate-ledger-exporter"), ("tollgate-operator", "tollgate-ledger-operator") })
        {
            var secrets = system.PodOf("Deployment", deployment, "p")["spec"]!["volumes"]!.AsArray()
                .Where(v => v!["secret"] is not null)
                .Select(v => (Name: v!["secret"]!["secretName"]!.GetValue<string>(), Keys: string.Join(',', v["secret"]!["items"]?.AsArray().Select(i => i!["key"]!.GetValue<string>()) ?? ["*"])))
                .Where(v => v.Name.StartsWith("tollgate-redis", StringComparison.Ordinal) || v.Name.StartsWith("tollgate-ledger", StringComparison.Ordinal))
                .Order()
                .ToList();
            Assert.Equal([(secret, "password"), ("tollgate-redis-tls", "ca.crt")], secrets);
        }
    }

    private static async Task<int> ReadSomeAsync(Stream stream, byte[] buffer)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            return await stream.ReadAsync(buffer, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            return 0;
        }
    }

    /// <summary>One RESP command over TLS to the Redis pod, verified as the Service's name against the CA bundle; AUTH first when a user is given.</summary>
    private Task<string> TlsCommandAsync(string? user, string? password, params string[] command) =>
        RawRedis.TlsCommandAsync(system.RedisEndPoint, DeployedSystem.RedisHost, system.SecretText("tollgate-redis-tls", "ca.crt")!, user, password, command);

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

        // The policy volume and the CA in the identity volume are not optional: the kubelet waits for the operator to
        // write them, and so does this test.
        await EventuallyAsync(() => system.Api.Get("", "v1", "configmaps", DeployedSystem.MeteredNamespace, new SidecarOptions().PolicyConfigMapName));
        await EventuallyAsync(() => system.Api.Get("", "v1", "configmaps", DeployedSystem.MeteredNamespace, new SidecarOptions().CaConfigMapName));

        // Stored as the API server stores it: the broker reads the pod, and the kubelet's token is bound to it.
        admitted["metadata"]!["namespace"] = DeployedSystem.MeteredNamespace;
        system.Api.Seed("", "v1", "pods", (JsonObject)admitted.DeepClone());
        if (ClusterDns.Unavailable is { } why)
        {
            Assert.Fail($"the meter reaches the key broker by its Service name over TLS; giving a process cluster DNS {why}");
        }

        return system.Api.Get("", "v1", "pods", DeployedSystem.MeteredNamespace, name)!;
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

    [GeneratedRegex(@"^tollgate_budget_limit\{budget=""([^""]+)"",[^}]*\} (\S+)$")]
    private static partial Regex BudgetLimit();

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
