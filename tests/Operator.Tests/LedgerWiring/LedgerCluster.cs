using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Operator.LedgerWiring;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.LedgerWiring;

/// <summary>The fake API server with the Redis StatefulSet of config/redis, and the two ledger controllers pointed at it.</summary>
internal sealed class LedgerCluster : IAsyncDisposable
{
    public const string Namespace = "tollgate-system";

    private LedgerCluster(FakeKubernetesApi api, FakeTimeProvider time)
    {
        Api = api;
        Time = time;
        Client = new Kubernetes(api.Configuration);
        Credentials = new LedgerCredentialsController(Client, Options, Namespace, NullLogger.Instance);
        Tls = new LedgerTlsController(Client, Options, Namespace, time, NullLogger.Instance);
    }

    public FakeKubernetesApi Api { get; }

    public FakeTimeProvider Time { get; }

    public Kubernetes Client { get; }

    public LedgerWiringOptions Options { get; } = new();

    public LedgerCredentialsController Credentials { get; }

    public LedgerTlsController Tls { get; }

    /// <param name="statefulSet">The Redis StatefulSet as config/redis ships it; without it the ledger is "someone else's Redis".</param>
    public static async Task<LedgerCluster> StartAsync(bool statefulSet = true)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));
        var api = new FakeKubernetesApi(time);
        await api.StartAsync();
        api.RegisterResource(new ApiResource("apps", "v1", "statefulsets", "StatefulSet", Namespaced: true));
        api.Seed("", "v1", "namespaces", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = Namespace } });
        if (statefulSet)
        {
            api.Seed("apps", "v1", "statefulsets", new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "StatefulSet",
                ["metadata"] = new JsonObject { ["name"] = "tollgate-redis", ["namespace"] = Namespace },
                ["spec"] = new JsonObject
                {
                    ["serviceName"] = "tollgate-redis",
                    ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app.kubernetes.io/name"] = "tollgate-redis" } },
                    ["template"] = new JsonObject
                    {
                        ["metadata"] = new JsonObject
                        {
                            ["labels"] = new JsonObject { ["app.kubernetes.io/name"] = "tollgate-redis" },
                            ["annotations"] = new JsonObject { ["kubectl.kubernetes.io/default-container"] = "redis" },
                        },
                        ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "redis", ["image"] = "redis:7" }) },
                    },
                },
            });
        }

        return new LedgerCluster(api, time);
    }

    /// <summary>What every replica's webhook rotator does at start: the CA (with its key) and the webhook certificate.</summary>
    public Task IssueCaAsync() =>
        new WebhookCertificateStore(Client, Microsoft.Extensions.Options.Options.Create(new WebhookTlsOptions()), Time, NullLogger<WebhookCertificateStore>.Instance)
            .EnsureAsync(CancellationToken.None);

    public JsonObject? Secret(string name) => Api.Get("", "v1", "secrets", Namespace, name);

    public string? SecretText(string name, string key) =>
        Secret(name)?["data"]?[key]?.GetValue<string>() is { } value ? Encoding.UTF8.GetString(Convert.FromBase64String(value)) : null;

    public string? TemplateAnnotation(string annotation) =>
        Api.Get("apps", "v1", "statefulsets", Namespace, "tollgate-redis")?["spec"]?["template"]?["metadata"]?["annotations"]?[annotation]?.GetValue<string>();

    /// <summary>Requests that changed something (anything but GET), since the last <see cref="FakeKubernetesApi.ClearRequests"/>.</summary>
    public IReadOnlyList<string> Writes() => [.. Api.Requests.Where(r => r.Method != "GET").Select(r => $"{r.Method} {r.Path}")];

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Api.DisposeAsync();
    }
}
