using System.Net;
using System.Text.Json.Nodes;
using Tollgate.TestSupport;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// <c>config/default</c> as <c>kubectl kustomize</c> renders it, "applied" to the fake API server as far as the fake serves
/// its kinds, a real Redis standing in for the <c>tollgate-redis</c> Service, and the exporter's and then the operator's
/// Deployments started as processes (see <see cref="PodSandbox"/> for what is substituted and why). The exporter comes
/// first, as it may on a fresh install: its optional policy volume is empty until the operator has written the ConfigMap
/// and the kubelet (<see cref="PodSandbox.SyncVolumes"/>) has brought it in.
/// </summary>
public sealed class DeployedSystem : IAsyncLifetime
{
    public const string SystemNamespace = "tollgate-system";
    public const string MeteredNamespace = "ci-payments";

    private readonly RedisServerFixture _redis = new();

    internal IReadOnlyList<JsonObject> Rendered { get; private set; } = [];

    /// <summary>The Redis behind the <c>tollgate-redis</c> Service; a test that kills it restarts it before it ends.</summary>
    internal RedisServerFixture Redis => _redis;

    internal FakeKubernetesApi Api { get; } = new() { BookmarkInterval = TimeSpan.FromMilliseconds(500) };

    internal IReadOnlyDictionary<(string Service, string Namespace, int Port), string> Services { get; private set; } =
        new Dictionary<(string, string, int), string>();

    internal PodSandbox Operator { get; private set; } = null!;

    internal PodSandbox Exporter { get; private set; } = null!;

    /// <summary>The ledger's Redis as the test reaches it (the pods reach it as the <c>tollgate-redis</c> Service).</summary>
    internal string RedisAddress => _redis.Address;

    public async Task InitializeAsync()
    {
        var render = Kubectl.KustomizeAsync("config/default");
        await _redis.InitializeAsync();
        await Api.StartAsync();
        Rendered = await render;

        // The Service the manifests name the ledger by; nothing else of the cluster's is reached by DNS.
        Services = new Dictionary<(string, string, int), string> { [("tollgate-redis", SystemNamespace, 6379)] = _redis.Endpoint };

        Api.RegisterResource(new ApiResource("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", Namespaced: false));
        foreach (var (kind, group, version, plural) in new[]
        {
            ("Namespace", "", "v1", "namespaces"),
            ("CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            ("MutatingWebhookConfiguration", "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
            ("AiBudget", "tollgate.io", "v1alpha1", "aibudgets"),
            ("AiRoutingRule", "tollgate.io", "v1alpha1", "airoutingrules"),
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

        Exporter = new PodSandbox(PodOf("tollgate-exporter", "tollgate-exporter-6f7b9c4d5-q8r2m"), Api, Services);
        Exporter.Start("exporter");
        await Exporter.WaitUntilReadyAsync("exporter", CancellationToken.None);

        // The provider: injected meters are pointed at the fake one through the operator's own setting for extra meter
        // flags; it accepts only the key that lives in tollgate-system.
        Provider = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { AnthropicKeys = [ProviderKey] });
        var operatorPod = PodOf("tollgate-operator", "tollgate-operator-7c9d5f6b8-x2kqz");
        var env = operatorPod["spec"]!["containers"]![0]!["env"]!.AsArray();
        env.Add(new JsonObject { ["name"] = "Tollgate__Sidecar__ExtraArgs__0", ["value"] = "--upstream" });
        env.Add(new JsonObject { ["name"] = "Tollgate__Sidecar__ExtraArgs__1", ["value"] = $"anthropic={Provider.BaseUri.ToString().TrimEnd('/')}" });

        Operator = new PodSandbox(operatorPod, Api, Services);
        Operator.Start("operator");
        await Operator.WaitUntilReadyAsync("operator", CancellationToken.None);

        // The webhook Service (443 -> the operator's 9443), by name: meters check the broker's certificate against it.
        if (ClusterDns.Unavailable is null)
        {
            Dns.Add("tollgate-webhook", SystemNamespace, 443, new IPEndPoint(IPAddress.Loopback, Operator.LocalPort(9443)));
        }
    }

    /// <summary>The provider key, kept only in tollgate-system (Secret tollgate-provider-keys), as the README has an administrator put it.</summary>
    public const string ProviderKey = "sk-ant-kept-in-tollgate-system";

    /// <summary>The fake provider injected meters forward to.</summary>
    internal FakeLlmUpstream Provider { get; private set; } = null!;

    /// <summary>Names meters reach by name; empty where <see cref="ClusterDns.Unavailable"/>.</summary>
    internal ClusterDns Dns { get; } = new();

    /// <summary>A pod of a rendered Deployment, as its ReplicaSet would create it: the template with a name and namespace.</summary>
    internal JsonObject PodOf(string deployment, string podName)
    {
        var rendered = Rendered.Single(o => o["kind"]!.GetValue<string>() == "Deployment" && o["metadata"]!["name"]!.GetValue<string>() == deployment);
        var template = rendered["spec"]!["template"]!.DeepClone().AsObject();
        var metadata = template["metadata"]!.AsObject();
        metadata["name"] = podName;
        metadata["namespace"] = rendered["metadata"]!["namespace"]!.DeepClone();
        return new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Pod", ["metadata"] = metadata.DeepClone(), ["spec"] = template["spec"]!.DeepClone() };
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

        await Api.DisposeAsync();
        await _redis.DisposeAsync();
    }
}
