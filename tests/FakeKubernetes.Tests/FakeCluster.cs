using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using k8s;
using k8s.Autorest;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.FakeKubernetes.Tests;

/// <summary>A started fake API server with Tollgate's CRDs registered, and a real KubernetesClient pointed at it.</summary>
internal sealed class FakeCluster : IAsyncDisposable
{
    public const string Group = "tollgate.io";
    public const string V1Alpha1 = "v1alpha1";

    private FakeCluster(FakeKubernetesApi api)
    {
        Api = api;
        Client = new Kubernetes(api.Configuration);
    }

    public FakeKubernetesApi Api { get; }

    public Kubernetes Client { get; }

    /// <summary>Wraps a server the caller built (and started), e.g. one with a FakeTimeProvider.</summary>
    public static FakeCluster Of(FakeKubernetesApi api) => new(api);

    public static async Task<FakeCluster> StartAsync(Action<FakeKubernetesApi>? configure = null)
    {
        var api = new FakeKubernetesApi { BookmarkInterval = TimeSpan.FromMilliseconds(200) };
        api.RegisterResource(Group, V1Alpha1, "aibudgets", "AiBudget", namespaced: false);
        api.RegisterResource(Group, V1Alpha1, "airoutingrules", "AiRoutingRule", namespaced: true);
        configure?.Invoke(api);
        await api.StartAsync();
        return new FakeCluster(api);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Api.DisposeAsync();
    }

    /// <summary>A custom object as the CustomObjects API takes it.</summary>
    public static JsonObject Budget(string name, decimal amount, JsonObject? labels = null) => new()
    {
        ["apiVersion"] = $"{Group}/{V1Alpha1}",
        ["kind"] = "AiBudget",
        ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = labels ?? [] },
        ["spec"] = new JsonObject { ["limit"] = new JsonObject { ["amount"] = amount, ["unit"] = "usd", ["period"] = "day" } },
    };

    /// <summary>What the CustomObjects API returns (a JsonElement) as a node tree to assert on.</summary>
    public static JsonObject Node(object customObject) => JsonSerializer.SerializeToNode(customObject)!.AsObject();

    /// <summary>The v1.Status the fake answered a failed call with.</summary>
    public static async Task<(HttpStatusCode Code, JsonObject Status)> FailureOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(call);
        return (e.Response.StatusCode, JsonNode.Parse(e.Response.Content)!.AsObject());
    }
}

/// <summary>Consumes a watch in the background so a test can act and then read the events it caused, in order.</summary>
internal sealed class WatchRecorder<T> : IAsyncDisposable
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(5);

    private readonly Channel<(WatchEventType Type, T Object)> _events = Channel.CreateUnbounded<(WatchEventType, T)>();
    private readonly List<Exception> _errors = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;

    private WatchRecorder(Func<Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType, T)>> open)
    {
        _pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in open(OnError, _stop.Token))
                {
                    await _events.Writer.WriteAsync(e);
                }
            }
            catch (OperationCanceledException)
            {
                // Disposed.
            }
            finally
            {
                _events.Writer.TryComplete();
            }
        });
    }

    /// <summary>Errors the client reported, such as the KubernetesException for a 410 ERROR event.</summary>
    public IReadOnlyList<Exception> Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToArray();
            }
        }
    }

    /// <summary>Completes when the server ends the stream.</summary>
    public Task Completion => _pump;

    public static WatchRecorder<T> Start(Func<Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType, T)>> open) => new(open);

    public async Task<(WatchEventType Type, T Object)> NextAsync(TimeSpan? wait = null)
    {
        using var timeout = new CancellationTokenSource(wait ?? DefaultWait);
        return await _events.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>The next event that is not a bookmark.</summary>
    public async Task<(WatchEventType Type, T Object)> NextChangeAsync()
    {
        while (true)
        {
            var e = await NextAsync();
            if (e.Type != WatchEventType.Bookmark)
            {
                return e;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _pump.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or HttpRequestException or IOException)
        {
            // Cancelling a watch mid-read surfaces as whichever of these the transport raised.
        }

        _stop.Dispose();
    }

    private void OnError(Exception e)
    {
        lock (_errors)
        {
            _errors.Add(e);
        }
    }
}
