using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// <c>config/default</c> as <c>kubectl kustomize</c> renders it, "applied" to the fake API server as far as the fake serves
/// its kinds, and its workloads started as processes (see <see cref="PodSandbox"/> for what is substituted and why), in
/// the order a fresh install converges in: the operator first (its ledger volumes are optional and empty: it creates
/// those Secrets itself), then Redis as its StatefulSet says, from the certificate and ACL file the operator wrote, then
/// the exporter, whose Secrets now exist, and last the kubelet's sync that gives the operator its own ledger files. Redis
/// is reached by its Service name over TLS (<see cref="ClusterDns"/>), as the certificate requires.
/// </summary>
public sealed class DeployedSystem : IAsyncLifetime
{
    public const string SystemNamespace = "tollgate-system";
    public const string MeteredNamespace = "ci-payments";

    internal IReadOnlyList<JsonObject> Rendered { get; private set; } = [];

    /// <summary>The name the manifests give the ledger, which its certificate must carry.</summary>
    public const string RedisHost = "tollgate-redis.tollgate-system.svc";

    /// <summary>The Redis pod of the <c>tollgate-redis</c> StatefulSet; a test that kills it starts it again before it ends.</summary>
    internal PodSandbox Redis { get; private set; } = null!;

    /// <summary>Where the test itself reaches Redis: the pod's address and the Service's port, under the Service's TLS name.</summary>
    internal IPEndPoint RedisEndPoint { get; private set; } = null!;

    internal FakeKubernetesApi Api { get; } = new() { BookmarkInterval = TimeSpan.FromMilliseconds(500) };

    internal IReadOnlyDictionary<(string Service, string Namespace, int Port), string> Services { get; private set; } =
        new Dictionary<(string, string, int), string>();

    internal PodSandbox Operator { get; private set; } = null!;

    internal PodSandbox Exporter { get; private set; } = null!;


    public async Task InitializeAsync()
    {
        // The ledger is TLS by its Service name: without a hosts file of their own the processes could not verify it.
        Assert.True(ClusterDns.Unavailable is null, $"The deployed system reaches Redis by its Service name: {ClusterDns.Unavailable}");
        var render = Kubectl.KustomizeAsync("config/default");
        await Api.StartAsync();
        Rendered = await render;

        // The Redis pod's own loopback address (all of 127/8 is the loopback interface): it listens on the Service's port
        // 6379 as in the cluster without taking 127.0.0.1:6379 from anyone else on the machine.
        var redisAddress = new IPAddress([127, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(2, 255)]);
        RedisEndPoint = new IPEndPoint(redisAddress, 6379);
        Dns.Add("tollgate-redis", SystemNamespace, 6379, RedisEndPoint);

        Api.RegisterResource(new ApiResource("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", Namespaced: false));
        Api.RegisterResource(new ApiResource("apps", "v1", "statefulsets", "StatefulSet", Namespaced: true));
        foreach (var (kind, group, version, plural) in new[]
        {
            ("Namespace", "", "v1", "namespaces"),
            ("CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            ("MutatingWebhookConfiguration", "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
            ("AiBudget", "tollgate.io", "v1alpha1", "aibudgets"),
            ("AiRoutingRule", "tollgate.io", "v1alpha1", "airoutingrules"),
            ("StatefulSet", "apps", "v1", "statefulsets"),
        })
        {
            foreach (var o in Rendered.Where(o => o["kind"]!.GetValue<string>() == kind))
            {
                Api.Seed(group, version, plural, (JsonObject)o.DeepClone());
            }
        }

        // What the README has an administrator do by hand: the export API's token, and a namespace to meter.
        Api.Seed("", "v1", "secrets", new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = "tollgate-export-token", ["namespace"] = SystemNamespace },
            ["data"] = new JsonObject { ["token"] = Convert.ToBase64String("s3cret-export-token"u8) },
        });
        Api.Seed("", "v1", "namespaces", new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["name"] = MeteredNamespace, ["labels"] = new JsonObject { ["tollgate.io/meter"] = "enabled", ["kubernetes.io/metadata.name"] = MeteredNamespace } },
        });
        Api.Seed("", "v1", "secrets", new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = "tollgate-provider-keys", ["namespace"] = SystemNamespace },
            ["data"] = new JsonObject { ["anthropic"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(ProviderKey)) },
        });

        // The namespace's service-account controller.
        Api.EnsureServiceAccount(MeteredNamespace, "default");

        // The provider: injected meters are pointed at the fake one through the operator's own setting for extra meter
        // flags; it accepts only the key that lives in tollgate-system.
        Provider = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { AnthropicKeys = [ProviderKey] });
        var operatorPod = PodOf("Deployment", "tollgate-operator", "tollgate-operator-7c9d5f6b8-x2kqz");
        var env = operatorPod["spec"]!["containers"]![0]!["env"]!.AsArray();
        env.Add(new JsonObject { ["name"] = "Tollgate__Sidecar__ExtraArgs__0", ["value"] = "--upstream" });
        env.Add(new JsonObject { ["name"] = "Tollgate__Sidecar__ExtraArgs__1", ["value"] = $"anthropic={Provider.BaseUri.ToString().TrimEnd('/')}" });

        Operator = new PodSandbox(operatorPod, Api, Services, Dns);
        Operator.Start("operator");
        await Operator.WaitUntilReadyAsync("operator", CancellationToken.None);

        // The webhook Service (443 -> the operator's 9443), by name: meters check the broker's certificate against it.
        Dns.Add("tollgate-webhook", SystemNamespace, 443, new IPEndPoint(IPAddress.Loopback, Operator.LocalPort(9443)));

        // The kubelet holds the Redis pod in ContainerCreating until the operator has written both of its Secrets.
        await EventuallyAsync(() => Api.Get("", "v1", "secrets", SystemNamespace, "tollgate-redis-tls") is not null
            && Api.Get("", "v1", "secrets", SystemNamespace, "tollgate-redis-users") is not null);
        Redis = new PodSandbox(PodOf("StatefulSet", "tollgate-redis", "tollgate-redis-0"), Api, Services, podAddress: redisAddress.ToString());
        Redis.Start("redis");
        await Redis.WaitUntilReadyAsync("redis", CancellationToken.None);

        Exporter = new PodSandbox(PodOf("Deployment", "tollgate-exporter", "tollgate-exporter-6f7b9c4d5-q8r2m"), Api, Services, Dns);
        Exporter.Start("exporter");
        await Exporter.WaitUntilReadyAsync("exporter", CancellationToken.None);

        // The kubelet's next sync fills the operator's optional ledger volumes; it connects within seconds.
        Operator.SyncVolumes();
    }

    /// <summary>The ledger as a component of the cluster reaches it: by the Service's TLS name, with the CA bundle and a user's Secret.</summary>
    internal async Task<OwnedRedisLedger> ConnectLedgerAsync(string secretName, RedisLedgerAccess access)
    {
        var folder = Directory.CreateTempSubdirectory("tollgate-ledger-client-");
        try
        {
            var ca = Path.Combine(folder.FullName, "ca.crt");
            var password = Path.Combine(folder.FullName, "password");
            await File.WriteAllTextAsync(ca, SecretText("tollgate-redis-tls", "ca.crt"));
            await File.WriteAllTextAsync(password, SecretText(secretName, "password"));
            var options = new RedisLedgerSettings($"rediss://{RedisHost}:6379", SecretText(secretName, "user"), password, ca).ToOptions(access) with { ConnectTo = RedisEndPoint };
            return await OwnedRedisLedger.ConnectAsync(options, TimeProvider.System, NullLogger.Instance, CancellationToken.None);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    internal string SecretText(string name, string key) =>
        System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(Api.Get("", "v1", "secrets", SystemNamespace, name)!["data"]![key]!.GetValue<string>()));

    private async Task EventuallyAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out; the operator logged:\n{Operator.Log}");

            // The operator writes through the API on its own schedule; the fake has no event to wait on here.
            await Task.Delay(50, CancellationToken.None);
        }
    }

    /// <summary>The provider key, kept only in tollgate-system (Secret tollgate-provider-keys), as the README has an administrator put it.</summary>
    public const string ProviderKey = "sk-ant-kept-in-tollgate-system";

    /// <summary>The fake provider injected meters forward to.</summary>
    internal FakeLlmUpstream Provider { get; private set; } = null!;

    /// <summary>Names the processes reach by name: the ledger and the webhook (key broker) Services.</summary>
    internal ClusterDns Dns { get; } = new();

    /// <summary>A pod of a rendered Deployment, as its ReplicaSet would create it: the template with a name and namespace.</summary>
    internal JsonObject PodOf(string kind, string workload, string podName)
    {
        var rendered = Rendered.Single(o => o["kind"]!.GetValue<string>() == kind && o["metadata"]!["name"]!.GetValue<string>() == workload);
        var template = rendered["spec"]!["template"]!.DeepClone().AsObject();
        var metadata = template["metadata"]!.AsObject();
        metadata["name"] = podName;
        metadata["namespace"] = rendered["metadata"]!["namespace"]!.DeepClone();
        var spec = template["spec"]!.DeepClone().AsObject();

        // A StatefulSet's claims become volumes of its pod; a new claim is an empty volume, modelled as an emptyDir.
        foreach (var claim in (rendered["spec"]!["volumeClaimTemplates"] as JsonArray ?? []).Select(c => c!["metadata"]!["name"]!.GetValue<string>()))
        {
            ((spec["volumes"] ??= new JsonArray()) as JsonArray)!.Add(new JsonObject { ["name"] = claim, ["emptyDir"] = new JsonObject() });
        }

        return new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Pod", ["metadata"] = metadata.DeepClone(), ["spec"] = spec };
    }

    public async Task DisposeAsync()
    {
        if (Operator is not null)
        {
            await Operator.DisposeAsync();
        }

        if (Exporter is not null)
        {
            await Exporter.DisposeAsync();
        }

        await Dns.DisposeAsync();
        if (Provider is not null)
        {
            await Provider.DisposeAsync();
        }

        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }

        await Api.DisposeAsync();
    }
}
