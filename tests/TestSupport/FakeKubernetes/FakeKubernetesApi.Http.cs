using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>URL routing, discovery documents, query options and response writing.</summary>
public sealed partial class FakeKubernetesApi
{
    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var receivedAt = _time.GetUtcNow();
        string body;
        try
        {
            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            return;
        }

        var path = request.Path.Value ?? "/";
        var query = request.QueryString.HasValue ? request.QueryString.Value![1..] : "";
        var verb = "get";
        int code;
        JsonNode? response;
        try
        {
            if (TokenRoute(request.Method, path) is { } authentication)
            {
                verb = "create";
                ThrowIfInjected(verb, path);
                (code, response) = authentication(body);
            }
            else
            {
                var route = Route(request.Method, path, request.Query);
                verb = route.Verb;
                ThrowIfInjected(verb, path);
                if (route.Verb == "watch")
                {
                    await WatchAsync(context, route, request.Query, () => Log(request, path, query, verb, body, 200, receivedAt));
                    return;
                }

                (code, response) = route.Document is { } document ? (200, document) : Execute(route, request, body);
            }
        }
        catch (ApiError e)
        {
            (code, response) = (e.Code, e.ToStatus());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug in the fake, answered as the API server answers its own: a 500 Status a test can read.
            (code, response) = (500, Status.Failure(500, "InternalError", $"Internal error occurred: {e}", null));
        }

        // Logged before the response goes out, so a test that has its answer also sees the request in the log.
        Log(request, path, query, verb, body, code, receivedAt);
        context.Response.StatusCode = code;
        if (response is JsonValue text && text.GetValueKind() == JsonValueKind.String)
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(text.GetValue<string>(), context.RequestAborted);
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(response!.ToJsonString(), context.RequestAborted);
    }

    private (int Code, JsonNode Body) Execute(RouteResult route, HttpRequest request, string body)
    {
        var resource = route.Resource!;
        var query = request.Query;
        var dryRun = ParseDryRun(query["dryRun"].ToString());
        lock (_gate)
        {
            switch (route.Verb)
            {
                case "get":
                    return (200, GetLocked(resource, route.Namespace, route.Name!));
                case "list":
                    return (200, ListLocked(resource, route.Namespace, ListOptions.Parse(query, resource)));
                case "create":
                    {
                        var (created, code) = CreateLocked(resource, route.Namespace, Json.Parse(body, "create"), dryRun);
                        return (code, created);
                    }

                case "update":
                    return (200, UpdateLocked(resource, route.Namespace, route.Name!, Json.Parse(body, "update"), route.Status, dryRun));
                case "patch":
                    {
                        var mediaType = (request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
                        var (patched, code) = PatchLocked(resource, route.Namespace, route.Name!, mediaType, body, route.Status, dryRun, query["fieldManager"].ToString());
                        return (code, patched);
                    }

                case "delete":
                    return (200, DeleteLocked(resource, route.Namespace, route.Name!, DeleteOptions.Parse(query, body, dryRun)));
                case "deletecollection":
                    return (200, DeleteCollectionLocked(resource, route.Namespace, ListOptions.Parse(query, resource), DeleteOptions.Parse(query, body, dryRun)));
                default:
                    throw ApiError.MethodNotAllowed(resource, route.Verb);
            }
        }
    }

    /// <summary>Maps a URL to a discovery document or to a resource, a namespace, a name and a verb, as the API server's mux does.</summary>
    private RouteResult Route(string method, string path, IQueryCollection query)
    {
        var segments = path.Trim('/').Split('/');
        if (segments is [""])
        {
            throw ApiError.PathNotFound();
        }

        string group;
        string version;
        string[] rest;
        lock (_gate)
        {
            switch (segments)
            {
                case ["version"]:
                    return Discovery(method, VersionDocument());
                case ["healthz" or "livez" or "readyz"]:
                    return Discovery(method, JsonValue.Create("ok"));
                case ["api"]:
                    return Discovery(method, CoreVersionsDocument());
                case ["apis"]:
                    return Discovery(method, GroupListDocument());
                case ["apis", var onlyGroup]:
                    return Discovery(method, GroupDocument(onlyGroup) ?? throw ApiError.PathNotFound());
                case ["api", var coreVersion, ..]:
                    (group, version, rest) = ("", coreVersion, segments[2..]);
                    break;
                case ["apis", var g, var v, ..]:
                    (group, version, rest) = (g, v, segments[3..]);
                    break;
                default:
                    throw ApiError.PathNotFound();
            }

            if (rest.Length == 0)
            {
                return Discovery(method, ResourceListDocument(group, version) ?? throw ApiError.PathNotFound());
            }
        }

        var legacyWatch = rest[0] == "watch";
        if (legacyWatch)
        {
            rest = rest[1..];
        }

        string? ns = null;
        if (rest.Length >= 3 && rest[0] == "namespaces" && !(group.Length == 0 && rest.Length == 3 && rest[2] is "status" or "finalize"))
        {
            ns = rest[1];
            rest = rest[2..];
        }

        if (rest.Length is 0 or > 3)
        {
            throw ApiError.PathNotFound();
        }

        ApiResource? resource;
        lock (_gate)
        {
            _resources.TryGetValue((group, version, rest[0]), out resource);
        }

        var name = rest.Length > 1 ? rest[1] : null;
        var subresource = rest.Length > 2 ? rest[2] : null;
        if (resource is null
            || (ns is not null && !resource.Namespaced)
            || (ns is null && resource.Namespaced && name is not null)
            || (subresource is not null && !(subresource == "status" && resource.HasStatusSubresource)))
        {
            throw ApiError.PathNotFound();
        }

        var isWatch = legacyWatch || query["watch"].ToString() is "true" or "1";
        var verb = (name, subresource, method) switch
        {
            (null, _, "GET") => isWatch ? "watch" : "list",
            (null, _, "POST") => "create",
            (null, _, "DELETE") => "deletecollection",
            (not null, null, "GET") => isWatch ? "watch" : "get",
            (not null, null, "DELETE") => "delete",
            (not null, _, "GET") => "get",
            (not null, _, "PUT") => "update",
            (not null, _, "PATCH") => "patch",
            _ => throw ApiError.MethodNotAllowed(resource, method),
        };
        return new RouteResult(verb, null, resource, ns, name, subresource == "status");
    }

    private static RouteResult Discovery(string method, JsonNode document) =>
        method == "GET" ? new RouteResult("get", document, null, null, null, false) : throw new ApiError(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource");

    private void ThrowIfInjected(string verb, string path)
    {
        lock (_gate)
        {
            var failure = _failures.FirstOrDefault(f => f.Remaining > 0 && (f.Verb == "*" || f.Verb == verb) && path.StartsWith(f.PathPrefix, StringComparison.Ordinal));
            if (failure is null)
            {
                return;
            }

            if (--failure.Remaining == 0)
            {
                _failures.Remove(failure);
            }

            var reason = failure.StatusCode switch
            {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                405 => "MethodNotAllowed",
                409 => "Conflict",
                410 => "Expired",
                422 => "Invalid",
                429 => "TooManyRequests",
                500 => "InternalError",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "",
            };
            var message = failure.Message ?? $"injected {failure.StatusCode} for {verb} {path}";
            JsonObject? details = failure.StatusCode is 429 or 503 or 504 ? new JsonObject { ["retryAfterSeconds"] = 1 } : null;
            throw new ApiError(failure.StatusCode, reason, message, details);
        }
    }

    private void Log(HttpRequest request, string path, string query, string verb, string body, int code, DateTimeOffset receivedAt)
    {
        lock (_gate)
        {
            _requests.Add(new FakeKubernetesRequest(request.Method, path, query, verb, request.ContentType, body, code, receivedAt));
        }
    }

    private static bool ParseDryRun(string value) => value switch
    {
        "" => false,
        "All" => true,
        _ => throw ApiError.BadRequest($"dryRun: Unsupported value: \"{value}\": supported values: \"All\""),
    };

    private static JsonObject VersionDocument() => new()
    {
        ["major"] = "1",
        ["minor"] = "33",
        ["gitVersion"] = "v1.33.0-tollgate-fake",
        ["gitCommit"] = "0000000000000000000000000000000000000000",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2025-01-01T00:00:00Z",
        ["goVersion"] = "go1.24.0",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    private JsonObject CoreVersionsDocument() => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject
        {
            ["clientCIDR"] = "0.0.0.0/0",
            ["serverAddress"] = _baseUri is null ? "127.0.0.1:0" : $"{_baseUri.Host}:{_baseUri.Port}",
        }),
    };

    private JsonObject GroupListDocument()
    {
        var groups = new JsonArray();
        foreach (var group in _resources.Keys.Select(k => k.Group).Where(g => g.Length > 0).Distinct().Order(StringComparer.Ordinal))
        {
            groups.Add(GroupBody(group));
        }

        return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = groups };
    }

    private JsonObject? GroupDocument(string group)
    {
        if (group.Length == 0 || !_resources.Keys.Any(k => k.Group == group))
        {
            return null;
        }

        var body = GroupBody(group);
        var document = new JsonObject { ["kind"] = "APIGroup", ["apiVersion"] = "v1" };
        foreach (var (key, value) in body)
        {
            document[key] = value?.DeepClone();
        }

        return document;
    }

    private JsonObject GroupBody(string group)
    {
        var versions = _resources.Keys.Where(k => k.Group == group).Select(k => k.Version).Distinct()
            .OrderBy(v => v, Comparer<string>.Create(CompareVersionPriority)).ToList();
        JsonObject Entry(string v) => new() { ["groupVersion"] = $"{group}/{v}", ["version"] = v };
        return new JsonObject
        {
            ["name"] = group,
            ["versions"] = new JsonArray(versions.Select(v => (JsonNode)Entry(v)).ToArray()),
            ["preferredVersion"] = Entry(versions[0]),
        };
    }

    private JsonObject? ResourceListDocument(string group, string version)
    {
        var resources = _resources.Where(p => p.Key.Group == group && p.Key.Version == version).Select(p => p.Value)
            .OrderBy(r => r.Plural, StringComparer.Ordinal).ToList();
        if (resources.Count == 0)
        {
            return null;
        }

        var list = new JsonArray();
        foreach (var r in resources)
        {
            var entry = new JsonObject
            {
                ["name"] = r.Plural,
                ["singularName"] = r.Singular,
                ["namespaced"] = r.Namespaced,
                ["kind"] = r.Kind,
                ["verbs"] = new JsonArray("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
            };
            if (r.ShortNames.Count > 0)
            {
                entry["shortNames"] = new JsonArray(r.ShortNames.Select(s => (JsonNode)JsonValue.Create(s)).ToArray());
            }

            list.Add(entry);
            if (r.HasStatusSubresource)
            {
                list.Add(new JsonObject
                {
                    ["name"] = r.Plural + "/status",
                    ["singularName"] = "",
                    ["namespaced"] = r.Namespaced,
                    ["kind"] = r.Kind,
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = list,
        };
    }

    /// <summary>Kubernetes version priority: GA before beta before alpha, higher numbers first, anything else last by name.</summary>
    private static int CompareVersionPriority(string a, string b)
    {
        static (int Stability, int Major, int Minor) Rank(string v)
        {
            var match = System.Text.RegularExpressions.Regex.Match(v, "^v([0-9]+)(?:(alpha|beta)([0-9]+))?$");
            if (!match.Success)
            {
                return (3, 0, 0);
            }

            var major = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            return match.Groups[2].Value switch
            {
                "beta" => (1, -major, -int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture)),
                "alpha" => (2, -major, -int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture)),
                _ => (0, -major, 0),
            };
        }

        var byRank = Rank(a).CompareTo(Rank(b));
        return byRank != 0 ? byRank : string.CompareOrdinal(a, b);
    }

    private sealed record RouteResult(string Verb, JsonNode? Document, ApiResource? Resource, string? Namespace, string? Name, bool Status);

    /// <summary>List and watch query options.</summary>
    private sealed record ListOptions(LabelSelector Labels, FieldSelector Fields, string? ResourceVersion, string? ResourceVersionMatch, long? Limit, string? Continue)
    {
        public static ListOptions Parse(IQueryCollection query, ApiResource resource)
        {
            long? limit = null;
            if (query["limit"].ToString() is { Length: > 0 } limitText)
            {
                limit = long.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var l)
                    ? l
                    : throw ApiError.BadRequest($"invalid limit \"{limitText}\"");
            }

            var match = query["resourceVersionMatch"].ToString();
            if (match is not ("" or "Exact" or "NotOlderThan"))
            {
                throw ApiError.BadRequest($"resourceVersionMatch: Unsupported value: \"{match}\": supported values: \"Exact\", \"NotOlderThan\"");
            }

            return new ListOptions(
                LabelSelector.Parse(query["labelSelector"].ToString()),
                FieldSelector.Parse(query["fieldSelector"].ToString(), resource),
                query.ContainsKey("resourceVersion") ? query["resourceVersion"].ToString() : null,
                match.Length == 0 ? null : match,
                limit,
                query["continue"].ToString() is { Length: > 0 } token ? token : null);
        }
    }

    /// <summary>DeleteOptions from the body (what KubernetesClient sends) and the query.</summary>
    private sealed record DeleteOptions(string? Uid, string? ResourceVersion, bool DryRun)
    {
        public static DeleteOptions Parse(IQueryCollection query, string body, bool dryRunQuery)
        {
            if (string.IsNullOrWhiteSpace(body) || body.Trim() == "null")
            {
                return new DeleteOptions(null, null, dryRunQuery);
            }

            var options = Json.Parse(body, "DeleteOptions");
            var dryRun = dryRunQuery || (options["dryRun"] is JsonArray modes && modes.Any(m => Json.Str(m) == "All"));
            var preconditions = options["preconditions"] as JsonObject;
            return new DeleteOptions(Json.Str(preconditions?["uid"]), Json.Str(preconditions?["resourceVersion"]), dryRun);
        }
    }

    /// <summary>
    /// Continue tokens name the snapshot's resourceVersion and the last key returned; the remainder is served from the
    /// same snapshot (rebuilt from history) or refused with 410 once that is compacted, as etcd does.
    /// </summary>
    private static class ContinueToken
    {
        public static string Encode(long rv, string lastKey)
        {
            var json = new JsonObject { ["v"] = "meta.k8s.io/v1", ["rv"] = rv, ["start"] = lastKey + "\u0000" }.ToJsonString();
            return Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }

        public static (long Rv, string StartAfter) Decode(string token)
        {
            try
            {
                var base64 = token.Replace('-', '+').Replace('_', '/');
                base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
                var json = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(base64)))!.AsObject();
                return (Json.Long(json["rv"]) ?? throw new FormatException(), (Json.Str(json["start"]) ?? "").TrimEnd('\u0000'));
            }
            catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
            {
                throw ApiError.BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
            }
        }
    }
}
