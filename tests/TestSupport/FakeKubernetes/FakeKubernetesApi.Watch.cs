using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// Watch streams: a chunked response of newline-delimited <c>{"type":…,"object":…}</c> events, as the API server writes
/// them for <c>?watch=true</c>. A watch starts from a resourceVersion (replaying retained history), or from the current
/// state (synthetic ADDED events); an expired version gets an ERROR event with a 410 Expired Status, then the stream ends.
/// </summary>
public sealed partial class FakeKubernetesApi
{
    private const string InitialEventsEndAnnotation = "k8s.io/initial-events-end";

    private async Task WatchAsync(HttpContext context, RouteResult route, IQueryCollection query, Action logStarted)
    {
        var resource = route.Resource!;
        var options = ListOptions.Parse(query, resource);
        var fields = options.Fields;
        if (route.Name is not null)
        {
            // The legacy /watch/.../{name} form watches one object.
            fields = FieldSelector.Parse($"metadata.name={route.Name}", resource);
        }

        var scope = new WatchScope(route.Namespace, options.Labels, fields);
        var bookmarks = query["allowWatchBookmarks"].ToString() is "true" or "1";
        bool? sendInitialEvents = query["sendInitialEvents"].ToString() switch
        {
            "true" or "1" => true,
            "false" or "0" => false,
            _ => null,
        };
        if (sendInitialEvents == true && (options.ResourceVersionMatch != "NotOlderThan" || !bookmarks))
        {
            throw ApiError.Invalid(resource, "", [FieldError.Forbidden("sendInitialEvents", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true")]);
        }

        var timeout = query["timeoutSeconds"].ToString() is { Length: > 0 } timeoutText
            && int.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
                ? TimeSpan.FromSeconds(seconds)
                : Timeout.InfiniteTimeSpan;

        var lines = new List<JsonObject>();
        WatchSubscription? subscription = null;
        lock (_gate)
        {
            var rvText = options.ResourceVersion ?? "";
            var fromCurrentState = sendInitialEvents ?? (rvText is "" or "0");
            long requested = rvText is "" or "0" ? _resourceVersion : ParseResourceVersion(rvText);
            if (requested > _resourceVersion)
            {
                lines.Add(ErrorEvent(ApiError.TooLargeResourceVersion(requested, _resourceVersion)));
            }
            else if (fromCurrentState)
            {
                foreach (var (key, obj) in _objects.Where(p => p.Key.Resource == resource.Identity && scope.Matches(p.Value))
                             .OrderBy(p => p.Key, Comparer<ObjectKey>.Create(ObjectKey.StorageOrder)))
                {
                    lines.Add(Event("ADDED", Present(resource, obj)));
                }

                if (sendInitialEvents == true)
                {
                    lines.Add(Event("BOOKMARK", Bookmark(resource, _resourceVersion, initialEventsEnd: true)));
                }

                subscription = Subscribe(resource);
            }
            else if (requested < _compactedThrough)
            {
                lines.Add(ErrorEvent(ApiError.TooOldResourceVersion(requested, _compactedThrough)));
            }
            else
            {
                foreach (var e in _history.Where(e => e.Rv > requested && e.Key.Resource == resource.Identity))
                {
                    if (ToWire(resource, e, scope) is { } line)
                    {
                        lines.Add(line);
                    }
                }

                subscription = Subscribe(resource);
            }
        }

        logStarted();
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "application/json";
        using var timeoutSource = new CancellationTokenSource(timeout);
        using var streaming = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeoutSource.Token, _stopping.Token);
        try
        {
            // Headers go out at once, as the real server flushes them before the first event.
            await response.StartAsync(streaming.Token);
            foreach (var line in lines)
            {
                await WriteEventAsync(response, line, streaming.Token);
            }

            if (subscription is null)
            {
                return;
            }

            await PumpAsync(response, resource, scope, subscription, bookmarks, streaming.Token);
        }
        catch (OperationCanceledException) when (timeoutSource.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            // timeoutSeconds elapsed: the real server sends a last bookmark so the client resumes from the newest version.
            if (bookmarks && subscription is not null && TryBookmarkVersion(subscription) is { } rv)
            {
                await TryWriteAsync(response, Event("BOOKMARK", Bookmark(resource, rv, initialEventsEnd: false)), context.RequestAborted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away or the server is stopping.
        }
        finally
        {
            if (subscription is not null)
            {
                lock (_gate)
                {
                    _watches.Remove(subscription);
                }
            }
        }
    }

    private async Task PumpAsync(HttpResponse response, ApiResource resource, WatchScope scope, WatchSubscription subscription, bool bookmarks, CancellationToken ct)
    {
        var reader = subscription.Items.Reader;
        while (true)
        {
            bool more;
            using (var tick = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                // Every watch ticks, so a test can see that a watch without bookmarks let an interval pass without one.
                tick.CancelAfter(BookmarkInterval);

                try
                {
                    more = await reader.WaitToReadAsync(tick.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    if (!bookmarks)
                    {
                        Interlocked.Increment(ref _bookmarksWithheld);
                    }
                    else if (TryBookmarkVersion(subscription) is { } rv)
                    {
                        await WriteEventAsync(response, Event("BOOKMARK", Bookmark(resource, rv, initialEventsEnd: false)), ct);
                    }

                    continue;
                }
            }

            if (!more)
            {
                return;
            }

            while (reader.TryRead(out var item))
            {
                if (ToWire(resource, item.Event, scope) is { } line)
                {
                    await WriteEventAsync(response, line, ct);
                }
            }
        }
    }

    private WatchSubscription Subscribe(ApiResource resource)
    {
        var subscription = new WatchSubscription(resource.Identity);
        _watches.Add(subscription);
        return subscription;
    }

    /// <summary>
    /// The resourceVersion a bookmark may claim: the newest one, but only when this watch has already been handed every
    /// event up to it (events are queued under the same lock that assigns versions).
    /// </summary>
    private long? TryBookmarkVersion(WatchSubscription subscription)
    {
        lock (_gate)
        {
            return subscription.Items.Reader.Count == 0 ? _resourceVersion : null;
        }
    }

    /// <summary>
    /// What a stored change looks like through this watch's selectors: an object entering the selection is ADDED, one
    /// leaving it is DELETED (its previous state at the new version), as the watch cache's filtering does.
    /// </summary>
    private static JsonObject? ToWire(ApiResource resource, StoredEvent e, WatchScope scope)
    {
        var now = e.Type != ChangeType.Deleted && scope.Matches(e.Object);
        var before = e.Previous is not null && scope.Matches(e.Previous);
        switch (e.Type)
        {
            case ChangeType.Added when now:
                return Event("ADDED", Present(resource, e.Object));
            case ChangeType.Modified when now && before:
                return Event("MODIFIED", Present(resource, e.Object));
            case ChangeType.Modified when now:
                return Event("ADDED", Present(resource, e.Object));
            case ChangeType.Modified when before:
                {
                    var left = Present(resource, e.Previous!);
                    Json.Meta(left)["resourceVersion"] = Rv(e.Rv);
                    return Event("DELETED", left);
                }

            case ChangeType.Deleted when before:
                return Event("DELETED", Present(resource, e.Object));
            default:
                return null;
        }
    }

    private static JsonObject Event(string type, JsonObject obj) => new() { ["type"] = type, ["object"] = obj };

    private static JsonObject ErrorEvent(ApiError error) => Event("ERROR", error.ToStatus());

    /// <summary>A bookmark carries only kind, apiVersion and the resourceVersion the client may resume from.</summary>
    private static JsonObject Bookmark(ApiResource resource, long rv, bool initialEventsEnd)
    {
        var metadata = new JsonObject { ["resourceVersion"] = Rv(rv) };
        if (initialEventsEnd)
        {
            metadata["annotations"] = new JsonObject { [InitialEventsEndAnnotation] = "true" };
        }

        return new JsonObject { ["kind"] = resource.Kind, ["apiVersion"] = resource.ApiVersion, ["metadata"] = metadata };
    }

    private static async Task WriteEventAsync(HttpResponse response, JsonObject line, CancellationToken ct)
    {
        await response.WriteAsync(line.ToJsonString() + "\n", ct);
        await response.Body.FlushAsync(ct);
    }

    private static async Task TryWriteAsync(HttpResponse response, JsonObject line, CancellationToken ct)
    {
        try
        {
            await WriteEventAsync(response, line, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client is gone; nothing to tell it.
        }
    }

    private sealed class WatchSubscription(ResourceIdentity resource)
    {
        public ResourceIdentity Resource { get; } = resource;

        public Channel<WatchItem> Items { get; } = Channel.CreateUnbounded<WatchItem>();
    }
}

/// <summary>A change queued for one watch.</summary>
internal readonly record struct WatchItem(StoredEvent Event);

/// <summary>Which objects a list or watch sees: a namespace (or all), a label selector and a field selector.</summary>
internal sealed record WatchScope(string? Namespace, LabelSelector Labels, FieldSelector Fields)
{
    public bool Matches(JsonObject obj) =>
        (Namespace is null || Json.Str(obj["metadata"]?["namespace"]) == Namespace) && Labels.Matches(obj) && Fields.Matches(obj);
}
