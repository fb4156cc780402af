using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Tollgate.Operator.Tests.Webhooks;

/// <summary>
/// A few Kubernetes API paths over real HTTP, enough to see what the real KubernetesClient sends: objects by path
/// with a resourceVersion, 404 for absent ones, 409 for a create of an existing one or a stale replace, and JSON
/// patches applied with <see cref="Rfc6902"/> (422 when one fails, as the API server answers).
/// </summary>
internal sealed class KubernetesStub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, JsonObject> _objects = new(StringComparer.Ordinal);
    private int _resourceVersion = 100;

    private KubernetesStub(WebApplication app) => _app = app;

    public List<(string Method, string Path, string? ContentType, string Body)> Requests { get; } = [];

    /// <summary>Runs before a request is served; returning a status code answers with it instead.</summary>
    public Func<string, string, int?>? Intercept { get; set; }

    public static async Task<KubernetesStub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var stub = new KubernetesStub(app);
        app.Run(stub.HandleAsync);
        await app.StartAsync();
        return stub;
    }

    public IKubernetes Client() => new Kubernetes(new KubernetesClientConfiguration { Host = _app.Urls.Single() });

    public void Put(string path, JsonObject value)
    {
        lock (_objects)
        {
            value["metadata"]!["resourceVersion"] = NextVersion();
            _objects[path] = value;
        }
    }

    public JsonObject? Get(string path)
    {
        lock (_objects)
        {
            return _objects.TryGetValue(path, out var value) ? (JsonObject)value.DeepClone() : null;
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value!;
        var method = context.Request.Method;
        var body = await new StreamReader(context.Request.Body, Encoding.UTF8).ReadToEndAsync();
        lock (Requests)
        {
            Requests.Add((method, path, context.Request.ContentType, body));
        }

        if (Intercept?.Invoke(method, path) is int intercepted)
        {
            await Status(context, intercepted);
            return;
        }

        int status;
        JsonObject? result;
        lock (_objects)
        {
            (status, result) = Serve(method, path, body);
        }

        if (result is null)
        {
            await Status(context, status);
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(result.ToJsonString());
    }

    private (int, JsonObject?) Serve(string method, string path, string body)
    {
        _objects.TryGetValue(path, out var existing);
        switch (method)
        {
            case "GET":
                return existing is null ? (404, null) : (200, existing);
            case "POST":
                var created = JsonNode.Parse(body)!.AsObject();
                var createdPath = $"{path}/{(string)created["metadata"]!["name"]!}";
                if (_objects.ContainsKey(createdPath))
                {
                    return (409, null);
                }

                created["metadata"]!["resourceVersion"] = NextVersion();
                _objects[createdPath] = created;
                return (201, created);
            case "PUT":
                var replacement = JsonNode.Parse(body)!.AsObject();
                if (existing is null)
                {
                    return (404, null);
                }

                if ((string?)replacement["metadata"]?["resourceVersion"] != (string?)existing["metadata"]!["resourceVersion"])
                {
                    return (409, null);
                }

                replacement["metadata"]!["resourceVersion"] = NextVersion();
                _objects[path] = replacement;
                return (200, replacement);
            case "PATCH":
                if (existing is null)
                {
                    return (404, null);
                }

                try
                {
                    var patched = Rfc6902.Apply(existing, body).AsObject();
                    patched["metadata"]!["resourceVersion"] = NextVersion();
                    _objects[path] = patched;
                    return (200, patched);
                }
                catch (JsonPatchFailedException)
                {
                    return (422, null);
                }

            default:
                return (405, null);
        }
    }

    private static Task Status(HttpContext context, int code)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["status"] = "Failure",
            ["code"] = code,
        }.ToJsonString());
    }

    private string NextVersion() => (++_resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
