using System.Net;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// An in-process stand-in for kube-apiserver over real HTTP on loopback, so an operator is tested through its real
/// KubernetesClient: the same URLs, JSON, status codes, <c>v1.Status</c> errors, resourceVersions, watch streams
/// (with bookmarks and 410 Expired), finalizers, status subresources and generation as a real cluster.
/// Objects are stored as JSON; custom resources need only <see cref="RegisterResource(string, string, string, string, bool, bool)"/>.
/// </summary>
/// <remarks>
/// ValidatingAdmissionPolicies stored in it are enforced on create and update (AdmissionPolicies.cs, with a real CEL
/// interpreter). Service-account tokens are issued and reviewed (TokenRequest, TokenReview: FakeKubernetesApi.Tokens.cs),
/// but requests to the fake itself are not authenticated. Not modelled: RBAC, admission webhooks, OpenAPI schema validation and defaulting of custom resources,
/// field ownership of server-side apply, strategic merge by list keys, garbage collection of owner references,
/// controllers (no pods are scheduled, no services get IPs), protobuf, and the aggregated discovery format.
/// </remarks>
public sealed partial class FakeKubernetesApi : IAsyncDisposable
{
    /// <summary>The namespaces a new cluster has.</summary>
    public static readonly IReadOnlyList<string> InitialNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease"];

    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly Dictionary<(string Group, string Version, string Plural), ApiResource> _resources = [];
    private readonly Dictionary<ObjectKey, JsonObject> _objects = [];
    private readonly List<StoredEvent> _history = [];
    private readonly List<WatchSubscription> _watches = [];
    private readonly List<InjectedFailure> _failures = [];
    private readonly List<FakeKubernetesRequest> _requests = [];
    private readonly CancellationTokenSource _stopping = new();
    private long _resourceVersion;
    private long _compactedThrough;
    private long _bookmarksWithheld;
    private int _disposed;
    private WebApplication? _app;
    private Uri? _baseUri;

    /// <param name="time">The clock for creation and deletion timestamps.</param>
    public FakeKubernetesApi(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        lock (_gate)
        {
            foreach (var resource in ApiResource.BuiltIns)
            {
                _resources[(resource.Group, resource.Version, resource.Plural)] = resource;
            }

            foreach (var name in InitialNamespaces)
            {
                CreateLocked(ApiResource.Namespaces, null, NamespaceObject(name), dryRun: false);
            }
        }
    }

    /// <summary>How often an open watch that asked for bookmarks gets one (a real server: about a minute).</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Bookmark intervals that passed on watches that did not ask for bookmarks, so none was sent.</summary>
    public long BookmarksWithheld => Interlocked.Read(ref _bookmarksWithheld);

    /// <summary>Watch events kept for watches and exact lists from an older resourceVersion; older ones are compacted away.</summary>
    public int MaxHistory { get; set; } = 10_000;

    /// <summary>The server's origin, for example <c>http://127.0.0.1:41234/</c>; set by <see cref="StartAsync"/>.</summary>
    public Uri BaseUri => _baseUri ?? throw new InvalidOperationException("Call StartAsync first.");

    /// <summary>A fresh client configuration for this server: <c>new Kubernetes(fake.Configuration)</c>.</summary>
    public KubernetesClientConfiguration Configuration => new() { Host = BaseUri.ToString() };

    /// <summary>The latest resourceVersion handed out, as the string clients see.</summary>
    public string ResourceVersion
    {
        get
        {
            lock (_gate)
            {
                return Rv(_resourceVersion);
            }
        }
    }

    /// <summary>Watch streams currently open.</summary>
    public int OpenWatches
    {
        get
        {
            lock (_gate)
            {
                return _watches.Count;
            }
        }
    }

    /// <summary>A snapshot, oldest first, of every request served.</summary>
    public IReadOnlyList<FakeKubernetesRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return _requests.ToArray();
            }
        }
    }

    /// <summary>Starts Kestrel on a free loopback port.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("Already started.");
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Limits.MinResponseDataRate = null;
            options.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        app.Run(HandleAsync);
        try
        {
            await app.StartAsync(ct);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        _app = app;
        var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>();
        _baseUri = new Uri(addresses.Addresses.First());
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        CloseWatches();
        if (_app is not null)
        {
            using var deadline = new CancellationTokenSource(ShutdownGrace);
            await _app.StopAsync(deadline.Token);
            await _app.DisposeAsync();
        }

        _stopping.Dispose();
    }

    /// <summary>
    /// Serves a custom resource as a CRD would, and stores the matching CustomResourceDefinition object (Established), so
    /// code that checks for the CRD finds it. An unregistered group answers 404, as a cluster without that CRD does.
    /// </summary>
    /// <param name="statusSubresource">Whether the CRD enables the <c>/status</c> subresource.</param>
    public ApiResource RegisterResource(string group, string version, string plural, string kind, bool namespaced, bool statusSubresource = true) =>
        RegisterResource(new ApiResource(group, version, plural, kind, namespaced) { IsCustom = true, HasStatusSubresource = statusSubresource });

    /// <summary>Serves <paramref name="resource"/>; custom ones also get a CustomResourceDefinition object.</summary>
    public ApiResource RegisterResource(ApiResource resource)
    {
        lock (_gate)
        {
            _resources[(resource.Group, resource.Version, resource.Plural)] = resource;
            if (resource.IsCustom)
            {
                UpsertCustomResourceDefinitionLocked(resource);
            }
        }

        return resource;
    }

    /// <summary>
    /// Stops serving a resource, as an older API server that never had it (ValidatingAdmissionPolicy before Kubernetes
    /// 1.30): discovery no longer lists it and its URLs answer 404. Stored objects of it are dropped.
    /// </summary>
    public void UnregisterResource(string group, string version, string plural)
    {
        lock (_gate)
        {
            var resource = Resolve(group, version, plural);
            _resources.Remove((group, version, plural));
            foreach (var key in _objects.Keys.Where(k => k.Resource == resource.Identity).ToList())
            {
                _objects.Remove(key);
            }
        }
    }

    /// <summary>A copy of every stored object of a resource (in one namespace, or all), in list order, at <paramref name="version"/>.</summary>
    public IReadOnlyList<JsonObject> Objects(string group, string version, string plural, string? @namespace = null)
    {
        lock (_gate)
        {
            var resource = Resolve(group, version, plural);
            return _objects
                .Where(p => p.Key.Resource == resource.Identity && (@namespace is null || p.Key.Namespace == @namespace))
                .OrderBy(p => p.Key, Comparer<ObjectKey>.Create(ObjectKey.StorageOrder))
                .Select(p => Present(resource, p.Value))
                .ToArray();
        }
    }

    /// <summary>A copy of one stored object, or null.</summary>
    public JsonObject? Get(string group, string version, string plural, string? @namespace, string name)
    {
        lock (_gate)
        {
            var resource = Resolve(group, version, plural);
            return _objects.TryGetValue(KeyFor(resource, @namespace, name), out var stored) ? Present(resource, stored) : null;
        }
    }

    /// <summary>
    /// Creates an object as a POST would (same defaulting, validation and watch event), without going through HTTP;
    /// a namespaced object goes to its <c>metadata.namespace</c>, or <c>default</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The API server would have refused it; the message is the Status message.</exception>
    public JsonObject Seed(string group, string version, string plural, JsonObject obj)
    {
        lock (_gate)
        {
            var resource = Resolve(group, version, plural);
            try
            {
                var ns = resource.Namespaced ? Json.Str(obj["metadata"]?["namespace"]) ?? "default" : null;
                return CreateLocked(resource, ns, obj, dryRun: false).Result;
            }
            catch (ApiError e)
            {
                throw new InvalidOperationException($"{e.Code} {e.Reason}: {e.Message}", e);
            }
        }
    }

    /// <summary>Creates the namespace unless it exists.</summary>
    public void EnsureNamespace(string name)
    {
        lock (_gate)
        {
            if (!_objects.ContainsKey(new ObjectKey(ApiResource.Namespaces.Identity, "", name)))
            {
                CreateLocked(ApiResource.Namespaces, null, NamespaceObject(name), dryRun: false);
            }
        }
    }

    /// <summary>
    /// Forgets every retained watch event, as etcd compaction and a rolled-over watch cache do: a watch or exact list from
    /// any resourceVersion before now then gets 410 Expired, and the client must re-list.
    /// </summary>
    public void CompactHistory()
    {
        lock (_gate)
        {
            _history.Clear();
            _compactedThrough = _resourceVersion;
        }
    }

    /// <summary>
    /// Makes the next <paramref name="times"/> requests with this verb (list, watch, get, create, update, patch, delete,
    /// deletecollection, or * for any) whose path starts with <paramref name="pathPrefix"/> fail with a <c>v1.Status</c> of
    /// <paramref name="statusCode"/> (409 Conflict, 500 InternalError, 429, 503, ...) instead of being served.
    /// </summary>
    public void FailNext(string verb, string pathPrefix, int statusCode, string? message = null, int times = 1)
    {
        lock (_gate)
        {
            _failures.Add(new InjectedFailure(verb, pathPrefix, statusCode, message, times));
        }
    }

    public void ClearRequests()
    {
        lock (_gate)
        {
            _requests.Clear();
        }
    }

    /// <summary>Ends every open watch stream cleanly, as an API server restart or its watch timeout does.</summary>
    public void CloseWatches()
    {
        lock (_gate)
        {
            foreach (var watch in _watches)
            {
                watch.Items.Writer.TryComplete();
            }
        }
    }

    private ApiResource Resolve(string group, string version, string plural) =>
        _resources.TryGetValue((group, version, plural), out var resource)
            ? resource
            : throw new InvalidOperationException($"{plural} in {group}/{version} is not registered with the fake API server.");

    private static JsonObject NamespaceObject(string name) =>
        new() { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = name } };
}

/// <summary>One request as the fake served it.</summary>
/// <param name="Verb">The Kubernetes verb (list, watch, get, create, update, patch, delete, deletecollection), or get for discovery.</param>
/// <param name="Query">The query string without its leading <c>?</c>.</param>
public sealed record FakeKubernetesRequest(
    string Method,
    string Path,
    string Query,
    string Verb,
    string? ContentType,
    string Body,
    int StatusCode,
    DateTimeOffset ReceivedAt);

internal sealed class InjectedFailure(string verb, string pathPrefix, int statusCode, string? message, int times)
{
    public string Verb { get; } = verb;

    public string PathPrefix { get; } = pathPrefix;

    public int StatusCode { get; } = statusCode;

    public string? Message { get; } = message;

    public int Remaining { get; set; } = times;
}

internal enum ChangeType
{
    Added,
    Modified,
    Deleted,
}

/// <summary>A retained change: the object after it (for a delete, its last state) and before it.</summary>
internal sealed record StoredEvent(long Rv, ChangeType Type, ObjectKey Key, JsonObject Object, JsonObject? Previous);
