using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Operator.KeyBroker;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.KeyBroker;

/// <summary>
/// The key broker as the operator serves it: the real <see cref="WebhookHost"/> over TLS on loopback with the broker
/// mapped, a real KubernetesClient against the fake API server (which reviews tokens as kube-apiserver does), the
/// keys in Secrets of tollgate-system, and pods injected by the real webhook in broker mode.
/// </summary>
internal sealed class BrokerHarness : IAsyncDisposable
{
    public const string OperatorNamespace = "tollgate-system";
    public const string ServiceAccount = "runner";
    public const string RouteSecret = "openai-ci";
    public const string MissingRouteSecret = "never-created";
    public const string Audience = "tollgate.io/meter";

    private readonly Kubernetes _brokerClient;

    private BrokerHarness(FakeKubernetesApi api, FakeTimeProvider time, Kubernetes brokerClient, WebhookServer server, KeyBrokerMetrics metrics)
    {
        Api = api;
        Time = time;
        _brokerClient = brokerClient;
        Server = server;
        Metrics = metrics;
        Client = new Kubernetes(api.Configuration);
    }

    public FakeKubernetesApi Api { get; }

    public FakeTimeProvider Time { get; }

    /// <summary>The test's own client (the broker has another).</summary>
    public Kubernetes Client { get; }

    public WebhookServer Server { get; }

    public KeyBrokerMetrics Metrics { get; }

    public static SidecarInjector Injector { get; } = new(Options.Create(PodManifests.BrokerOptions()));

    /// <summary>ci-payments as the operator's cache sees it: metered, with a routing rule naming two key Secrets.</summary>
    public static NamespaceInfo Metered { get; } = PodManifests.MeteredNamespace with { RouteSecrets = [MissingRouteSecret, RouteSecret] };

    public static async Task<BrokerHarness> StartAsync(bool withSecrets = true)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));
        var api = new FakeKubernetesApi(time);
        await api.StartAsync();
        foreach (var ns in new[] { OperatorNamespace, Metered.Name, PodManifests.OptOutNamespace.Name, "default" })
        {
            api.EnsureNamespace(ns);
            api.EnsureServiceAccount(ns, ServiceAccount);
            api.EnsureServiceAccount(ns, "default");
        }

        if (withSecrets)
        {
            Secret(api, "tollgate-provider-keys", new() { ["anthropic"] = "sk-ant-broker", ["openai"] = "sk-openai-broker" });
            Secret(api, RouteSecret, new() { ["apiKey"] = "sk-route-ci" });
            Secret(api, "tollgate-ledger-meter", new() { ["user"] = "tollgate-meter", ["password"] = "ledger-pass" });
        }

        var metrics = new KeyBrokerMetrics();
        var brokerClient = new Kubernetes(api.Configuration);
        var namespaces = new FakeNamespaceLookup(Metered, PodManifests.OptOutNamespace, PodManifests.PlainNamespace);
        var broker = KeyBrokerEndpoint.Create(
            brokerClient, namespaces, PodManifests.BrokerOptions(), new KeyBrokerOptions { ApiTimeout = TimeSpan.FromSeconds(5) }, OperatorNamespace, time, NullLoggerFactory.Instance, metrics);
        var server = await WebhookServer.StartAsync(namespaces, PodManifests.BrokerOptions(), broker);
        return new BrokerHarness(api, time, brokerClient, server, metrics);
    }

    public static void Secret(FakeKubernetesApi api, string name, Dictionary<string, string> data, string ns = OperatorNamespace) =>
        api.Seed("", "v1", "secrets", new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
            ["data"] = new JsonObject(data.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(p.Value))))),
        });

    /// <summary>A Job pod as the webhook (broker mode) admits it, stored in the fake API under <paramref name="name"/>.</summary>
    public async Task<V1Pod> CreateInjectedPodAsync(string name, NamespaceInfo? ns = null, Action<JsonObject>? edit = null, string yaml = PodManifests.JobPod)
    {
        ns ??= Metered;
        var pod = PodManifests.Json(yaml);
        pod["metadata"]!["name"] = name;
        pod["metadata"]!["namespace"] = ns.Name;
        pod["spec"]!["serviceAccountName"] = ServiceAccount;
        var result = Injector.Inject(PodManifests.Pod(pod), ns);
        var admitted = result.Patch is null ? pod : Rfc6902.Apply(pod, JsonNode.Parse(result.Patch.ToUtf8Bytes())!.AsArray()).AsObject();
        edit?.Invoke(admitted);
        return await Client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(admitted), ns.Name);
    }

    /// <summary>What the kubelet projects into the meter's identity volume.</summary>
    public string MeterToken(V1Pod pod, TimeSpan? lifetime = null) =>
        Api.IssuePodToken(pod.Metadata.NamespaceProperty, pod.Metadata.Name, [Audience], lifetime ?? TimeSpan.FromMinutes(10));

    /// <summary>The meter's request: POST, no body, the token as a bearer credential.</summary>
    public async Task<(int Status, JsonObject Body, HttpResponseMessage Response)> AskAsync(string? token, HttpMethod? method = null, HttpContent? content = null, string? scheme = "Bearer")
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Post, KeyBrokerEndpoint.Path.TrimStart('/')) { Content = content };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue(scheme!, token);
        }

        var response = await Server.CreateClient().SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text)!.AsObject(), response);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Client.Dispose();
        _brokerClient.Dispose();
        await Api.DisposeAsync();
    }
}
