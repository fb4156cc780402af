using System.Collections.Concurrent;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Tollgate.Operator.Runtime;

/// <summary>What changed: <see cref="Previous"/> is null for an add, <see cref="Current"/> is null for a delete.</summary>
internal sealed record ResourceChange<T>(T? Previous, T? Current)
    where T : class;

/// <summary>
/// Keeps an in-memory copy of one kind, cluster-wide: lists, then watches from the list's resourceVersion with bookmarks.
/// When the watch ends it resumes from the last seen resourceVersion; when that is too old (410 Expired) it lists again
/// and reports the difference as changes, so handlers never miss an object that changed while nobody watched.
/// </summary>
internal sealed class Informer<T> : IAsyncDisposable
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly ConcurrentDictionary<string, T> _cache = new(StringComparer.Ordinal);
    private readonly IResourceSource<T> _source;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Action<ResourceChange<T>>> _handlers = [];
    private CancellationTokenSource? _stop;
    private Task? _loop;

    public Informer(IResourceSource<T> source, TimeProvider time, ILogger logger)
    {
        _source = source;
        _time = time;
        _logger = logger;
    }

    /// <summary>How many times the informer listed (1 after start; more after each 410).</summary>
    public int Lists { get; private set; }

    /// <summary>Completes after the first list has been cached and published.</summary>
    public Task Synced => _synced.Task;

    public static string KeyOf(T obj) =>
        string.IsNullOrEmpty(obj.Metadata.NamespaceProperty) ? obj.Metadata.Name : $"{obj.Metadata.NamespaceProperty}/{obj.Metadata.Name}";

    /// <summary>Registers a handler; call before <see cref="Start"/>. Handlers must be quick (they usually enqueue keys).</summary>
    public void OnChange(Action<ResourceChange<T>> handler) => _handlers.Add(handler);

    public T? Get(string key) => _cache.TryGetValue(key, out var value) ? value : null;

    public IReadOnlyList<T> List() => [.. _cache.Values];

    public void Start(CancellationToken cancellationToken)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("The informer is already running.");
        }

        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _stop.Token;

        // Watch calls block until the first event arrives, so the loop must never run on the caller's thread.
        _loop = Task.Run(() => RunAsync(token), CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop is null)
        {
            return;
        }

        await _stop.CancelAsync();
        try
        {
            await _loop!;
        }
        catch (OperationCanceledException)
        {
            // Stopping is the expected way out.
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        string? resourceVersion = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (resourceVersion is null)
                {
                    resourceVersion = await RelistAsync(cancellationToken);
                    _synced.TrySetResult();
                }

                await foreach (var (type, obj) in _source.WatchAsync(resourceVersion, cancellationToken))
                {
                    failures = 0;
                    resourceVersion = obj.Metadata?.ResourceVersion ?? resourceVersion;
                    Apply(type, obj);
                }

                // The server closed the stream (its watch timeout, a restart): resume from where we were.
                RuntimeLog.WatchEnded(_logger, _source.Kind, resourceVersion);
            }
            catch (Exception e) when (IsExpired(e))
            {
                RuntimeLog.WatchExpired(_logger, _source.Kind, resourceVersion);
                resourceVersion = null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                failures++;
                var delay = TimeSpan.FromMilliseconds(Math.Min(30_000, 100 * Math.Pow(2, Math.Min(failures, 10))) + Random.Shared.Next(0, 100));
                RuntimeLog.WatchFailed(_logger, e, _source.Kind, delay);
                await Task.Delay(delay, _time, cancellationToken);
            }
        }
    }

    private static bool IsExpired(Exception e) => e switch
    {
        KubernetesException k => k.Status?.Code == 410,
        HttpOperationException h => (int)h.Response.StatusCode == 410,
        _ => false,
    };

    private async Task<string> RelistAsync(CancellationToken cancellationToken)
    {
        var list = await _source.ListAsync(cancellationToken);
        Lists++;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in list.Items)
        {
            var key = KeyOf(item);
            seen.Add(key);
            var previous = Get(key);
            _cache[key] = item;
            if (previous is null || previous.Metadata.ResourceVersion != item.Metadata.ResourceVersion)
            {
                Publish(new ResourceChange<T>(previous, item));
            }
        }

        foreach (var key in _cache.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            if (_cache.TryRemove(key, out var gone))
            {
                Publish(new ResourceChange<T>(gone, null));
            }
        }

        RuntimeLog.Listed(_logger, _source.Kind, list.Items.Count, list.ResourceVersion);
        return list.ResourceVersion;
    }

    private void Apply(WatchEventType type, T obj)
    {
        switch (type)
        {
            case WatchEventType.Added or WatchEventType.Modified:
                var key = KeyOf(obj);
                var previous = Get(key);
                _cache[key] = obj;
                Publish(new ResourceChange<T>(previous, obj));
                break;
            case WatchEventType.Deleted:
                _cache.TryRemove(KeyOf(obj), out var removed);
                Publish(new ResourceChange<T>(removed ?? obj, null));
                break;
            default:
                // Bookmarks only move the resourceVersion forward, which the caller already did.
                break;
        }
    }

    private void Publish(ResourceChange<T> change)
    {
        foreach (var handler in _handlers)
        {
            handler(change);
        }
    }
}
