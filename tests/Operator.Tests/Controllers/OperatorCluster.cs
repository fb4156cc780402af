using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Operator.Hosting;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.Controllers;

/// <summary>A fake API server with Tollgate's CRDs, a real client, an in-memory ledger and helpers to apply objects.</summary>
internal sealed class OperatorCluster : IAsyncDisposable
{
    public const string Group = "tollgate.io";
    public const string Version = "v1alpha1";
    public const string OperatorNamespace = "tollgate-system";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly List<OperatorHost> _hosts = [];
    private readonly List<Kubernetes> _clients = [];

    private OperatorCluster(FakeKubernetesApi api)
    {
        Api = api;
        Client = NewClient();
    }

    public FakeKubernetesApi Api { get; }

    public Kubernetes Client { get; }

    // Real clock, like the operator whose refresh and requeue timers run on it: spend is dated now (SpendAsync), never on a fixed day.
    public EmbeddedLedger Ledger { get; } = EmbeddedLedger.InMemory(TimeProvider.System);

    public static async Task<OperatorCluster> StartAsync(bool prometheusOperator = false)
    {
        var api = new FakeKubernetesApi { BookmarkInterval = TimeSpan.FromMilliseconds(200) };
        api.RegisterResource(Group, Version, "aibudgets", "AiBudget", namespaced: false);
        api.RegisterResource(Group, Version, "airoutingrules", "AiRoutingRule", namespaced: true);
        if (prometheusOperator)
        {
            api.RegisterResource("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule", namespaced: true, statusSubresource: false);
        }

        await api.StartAsync();
        api.EnsureNamespace(OperatorNamespace);
        return new OperatorCluster(api);
    }

    public Kubernetes NewClient()
    {
        var client = new Kubernetes(Api.Configuration);
        _clients.Add(client);
        return client;
    }

    public static OperatorOptions Options(string identity = "test", bool leaderElection = false) => new()
    {
        Namespace = OperatorNamespace,
        Identity = identity,
        LeaderElection = leaderElection,
        StatusRefreshInterval = TimeSpan.FromMilliseconds(300),
        LeaseDuration = TimeSpan.FromSeconds(1),
        RenewDeadline = TimeSpan.FromMilliseconds(800),
        RetryPeriod = TimeSpan.FromMilliseconds(100),
    };

    /// <summary>Starts an operator against this cluster with its own client, as a separate replica would have.</summary>
    public async Task<OperatorHost> StartOperatorAsync(OperatorOptions? options = null, Tollgate.Operator.Webhooks.SidecarOptions? sidecar = null)
    {
        var host = new OperatorHost(NewClient(), Ledger, options ?? Options(), TimeProvider.System, NullLoggerFactory.Instance, sidecar);
        _hosts.Add(host);
        await host.StartAsync(CancellationToken.None);
        await host.Synced.WaitAsync(Patience);
        return host;
    }

    public async Task LabelNamespaceAsync(string name, bool metered, Dictionary<string, string>? extra = null)
    {
        var labels = new Dictionary<string, string>(extra ?? []);
        if (metered)
        {
            labels["tollgate.io/meter"] = "enabled";
        }

        var existing = Api.Get("", "v1", "namespaces", null, name);
        if (existing is null)
        {
            await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name, Labels = labels } });
            return;
        }

        var ns = await Client.CoreV1.ReadNamespaceAsync(name);
        ns.Metadata.Labels = labels;
        await Client.CoreV1.ReplaceNamespaceAsync(ns, name);
    }

    public static JsonObject Budget(string name, decimal amount, string[]? namespaces = null, int[]? thresholds = null) => new()
    {
        ["apiVersion"] = $"{Group}/{Version}",
        ["kind"] = "AiBudget",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject
        {
            ["priority"] = 100,
            // No namespaces given: the field is left out (an empty list is refused by the CRD and the compiler alike).
            ["match"] = namespaces is null ? new JsonObject() : new JsonObject { ["namespaces"] = new JsonArray([.. namespaces.Select(n => JsonValue.Create(n))]) },
            ["limit"] = new JsonObject { ["amount"] = amount, ["unit"] = "usd", ["period"] = "day" },
            ["alerts"] = new JsonObject { ["thresholds"] = new JsonArray([.. (thresholds ?? [75, 90, 95, 100]).Select(t => JsonValue.Create(t))]) },
        },
    };

    public static JsonObject Rule(string name, string ns, string model) => new()
    {
        ["apiVersion"] = $"{Group}/{Version}",
        ["kind"] = "AiRoutingRule",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        ["spec"] = new JsonObject
        {
            ["priority"] = 10,
            ["route"] = new JsonObject
            {
                ["targets"] = new JsonArray(new JsonObject { ["provider"] = "anthropic", ["model"] = model }),
            },
        },
    };

    public Task ApplyBudgetAsync(JsonObject budget) =>
        Client.CustomObjects.CreateClusterCustomObjectAsync(budget, Group, Version, "aibudgets");

    /// <summary>Read, edit, replace; retried on 409 because the operator writes the same object (finalizer, status) meanwhile.</summary>
    public async Task UpdateBudgetAsync(string name, Action<JsonObject> edit)
    {
        for (var attempt = 1; ; attempt++)
        {
            var current = Node(await Client.CustomObjects.GetClusterCustomObjectAsync(Group, Version, "aibudgets", name));
            edit(current);
            try
            {
                await Client.CustomObjects.ReplaceClusterCustomObjectAsync(current, Group, Version, "aibudgets", name);
                return;
            }
            catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.Conflict && attempt < 10)
            {
                // Someone else won the race; read again.
            }
        }
    }

    public Task ApplyRuleAsync(JsonObject rule) =>
        Client.CustomObjects.CreateNamespacedCustomObjectAsync(rule, Group, Version, rule["metadata"]!["namespace"]!.GetValue<string>(), "airoutingrules");

    public JsonObject? BudgetObject(string name) => Api.Get(Group, Version, "aibudgets", null, name);

    public JsonObject? PolicyConfigMap(string ns) => Api.Get("", "v1", "configmaps", ns, "tollgate-policy");

    public JsonObject? ExporterPolicyConfigMap() => Api.Get("", "v1", "configmaps", OperatorNamespace, "tollgate-exporter-policy");

    public static string? PolicyYaml(JsonObject? configMap) => configMap?["data"]?["policy.yaml"]?.GetValue<string>();

    public async Task SpendAsync(string budget, decimal amount, decimal limit)
    {
        var window = PeriodWindow.Containing(BudgetPeriod.Day, DateTimeOffset.UtcNow);
        var charge = new LedgerCharge(budget, string.Empty, window, limit, amount, CanBlock: true);
        await Ledger.SettleAsync(Guid.NewGuid().ToString("N"), [charge], [amount], CancellationToken.None);
    }

    public static JsonObject Node(object customObject) => JsonSerializer.SerializeToNode(customObject)!.AsObject();

    /// <summary>Waits for the operator to converge: the API is eventually consistent, so assertions poll with a deadline.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<T> read, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var value = read();
            if (done(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}");
            }

            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await Ledger.DisposeAsync();
        await Api.DisposeAsync();
    }
}
