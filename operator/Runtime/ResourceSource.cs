using System.Runtime.CompilerServices;
using System.Text.Json;
using k8s;
using k8s.Models;
using Tollgate.Core.Api.V1Alpha1;

namespace Tollgate.Operator.Runtime;

/// <summary>One consistent list: the objects and the resourceVersion to watch from.</summary>
internal sealed record ListResult<T>(IReadOnlyList<T> Items, string ResourceVersion);

/// <summary>How an <see cref="Informer{T}"/> lists and watches one kind, cluster-wide.</summary>
/// <remarks>
/// Watches ask the server to end them after 5 to 10 minutes (as client-go's reflector does): a watch that silently
/// died behind a proxy or load balancer is then replaced in bounded time instead of starving the cache forever.
/// </remarks>
internal interface IResourceSource<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    string Kind { get; }

    Task<ListResult<T>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Watches from <paramref name="resourceVersion"/> with bookmarks; an ERROR event is thrown as a <see cref="KubernetesException"/>.</summary>
    IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string resourceVersion, CancellationToken cancellationToken);
}

/// <summary>Namespaces, through the typed CoreV1 API.</summary>
internal sealed class NamespaceSource(IKubernetes client) : IResourceSource<V1Namespace>
{
    public string Kind => "Namespace";

    public async Task<ListResult<V1Namespace>> ListAsync(CancellationToken cancellationToken)
    {
        var list = await client.CoreV1.ListNamespaceAsync(cancellationToken: cancellationToken);
        return new ListResult<V1Namespace>([.. list.Items], list.Metadata.ResourceVersion);
    }

    public IAsyncEnumerable<(WatchEventType Type, V1Namespace Object)> WatchAsync(string resourceVersion, CancellationToken cancellationToken) =>
        client.CoreV1.WatchListNamespaceAsync(
            allowWatchBookmarks: true,
            resourceVersion: resourceVersion,
            timeoutSeconds: WatchTimeout.Seconds(),
            onError: static e => throw e,
            cancellationToken: cancellationToken);
}

/// <summary>A Tollgate custom resource in every namespace (or cluster-scoped), through the CustomObjects API.</summary>
internal sealed class CustomResourceSource<T>(IKubernetes client, string plural, bool namespaced) : IResourceSource<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    public string Kind => typeof(T).Name;

    public async Task<ListResult<T>> ListAsync(CancellationToken cancellationToken)
    {
        var raw = namespaced
            ? await client.CustomObjects.ListCustomObjectForAllNamespacesAsync(ApiGroup.Name, ApiGroup.Version, plural, cancellationToken: cancellationToken)
            : await client.CustomObjects.ListClusterCustomObjectAsync(ApiGroup.Name, ApiGroup.Version, plural, cancellationToken: cancellationToken);
        var list = Convert<CustomResourceList<T>>(raw);
        return new ListResult<T>(list.Items, list.Metadata.ResourceVersion);
    }

    public async IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string resourceVersion, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var events = namespaced
            ? client.CustomObjects.WatchListCustomObjectForAllNamespacesAsync(
                ApiGroup.Name, ApiGroup.Version, plural, allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: WatchTimeout.Seconds(),
                onError: static e => throw e, cancellationToken: cancellationToken)
            : client.CustomObjects.WatchListClusterCustomObjectAsync(
                ApiGroup.Name, ApiGroup.Version, plural, allowWatchBookmarks: true, resourceVersion: resourceVersion, timeoutSeconds: WatchTimeout.Seconds(),
                onError: static e => throw e, cancellationToken: cancellationToken);
        await foreach (var (type, obj) in events)
        {
            yield return (type, Convert<T>(obj));
        }
    }

    /// <summary>The CustomObjects API hands back untyped JSON; the client's own serializer binds it to the entity.</summary>
    internal static TResult Convert<TResult>(object raw) =>
        KubernetesJson.Deserialize<TResult>(raw is JsonElement element ? element.GetRawText() : KubernetesJson.Serialize(raw));
}

/// <summary>The list envelope of a custom resource.</summary>
internal sealed class CustomResourceList<T>
{
    public V1ListMeta Metadata { get; set; } = new();

    public List<T> Items { get; set; } = [];
}

/// <summary>The server-side watch timeout, jittered so the watches of many replicas and kinds do not restart together.</summary>
internal static class WatchTimeout
{
    public static int Seconds() => Random.Shared.Next(300, 600);
}

/// <summary>One ConfigMap by name, through a field selector, so the operator watches only the object it owns.</summary>
internal sealed class NamedConfigMapSource(IKubernetes client, string @namespace, string name) : IResourceSource<V1ConfigMap>
{
    public string Kind => "ConfigMap";

    private string FieldSelector => $"metadata.name={name}";

    public async Task<ListResult<V1ConfigMap>> ListAsync(CancellationToken cancellationToken)
    {
        var list = await client.CoreV1.ListNamespacedConfigMapAsync(@namespace, fieldSelector: FieldSelector, cancellationToken: cancellationToken);
        return new ListResult<V1ConfigMap>([.. list.Items], list.Metadata.ResourceVersion);
    }

    public IAsyncEnumerable<(WatchEventType Type, V1ConfigMap Object)> WatchAsync(string resourceVersion, CancellationToken cancellationToken) =>
        client.CoreV1.WatchListNamespacedConfigMapAsync(
            @namespace,
            fieldSelector: FieldSelector,
            allowWatchBookmarks: true,
            resourceVersion: resourceVersion,
            timeoutSeconds: WatchTimeout.Seconds(),
            onError: static e => throw e,
            cancellationToken: cancellationToken);
}
