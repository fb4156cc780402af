using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Tollgate.TestSupport;

/// <summary>
/// The operator's key broker as the contract describes it (<c>POST /meter/v1/credentials</c>), on real Kestrel over TLS
/// with a certificate from a <see cref="TestCertificateAuthority"/>, and at least as strict: only POST on that path,
/// an empty body, <c>Authorization: Bearer</c> with a token it issued (401 otherwise), and 401/403/503 as the
/// contract's JSON errors. Tests set what it answers and swap the token it accepts, as the kubelet rotates it.
/// </summary>
public sealed class FakeKeyBroker : IAsyncDisposable
{
    public const string Path = "/meter/v1/credentials";

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];
    private HashSet<string> _tokens = new(StringComparer.Ordinal);
    private string _answer = Answer();
    private (int Status, string Type)? _refusal;
    private int _requests;
    private int _answered;

    private FakeKeyBroker(WebApplication app, TestCertificateAuthority authority)
    {
        _app = app;
        CertificateAuthority = authority;
    }

    public TestCertificateAuthority CertificateAuthority { get; }

    /// <summary>The broker's URL, <c>https://localhost:port/meter/v1/credentials</c>.</summary>
    public Uri Uri { get; private set; } = new("https://localhost");

    /// <summary>Requests received, refused ones included.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests answered 200.</summary>
    public int Answered => Volatile.Read(ref _answered);

    /// <summary>The tokens refused so far, for tests that check which one a client sent.</summary>
    public List<string> RefusedTokens { get; } = [];

    public static async Task<FakeKeyBroker> StartAsync(TestCertificateAuthority authority, params string[] tokens)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // The contract bounds what a request may carry; an empty body and one token need far less.
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestBodySize = 1024;
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(authority.ServerCertificate));
        });
        var app = builder.Build();
        var broker = new FakeKeyBroker(app, authority);
        broker.AcceptTokens(tokens);
        app.Run(broker.HandleAsync);
        await app.StartAsync();
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
        broker.Uri = new Uri($"https://{TestCertificateAuthority.ServerName}:{bound.Port}{Path}");
        return broker;
    }

    /// <summary>The credentials document, as the operator writes it.</summary>
    public static string Answer(
        string? anthropic = FakeUpstreamOptions.DefaultAnthropicKey,
        string? openai = FakeUpstreamOptions.DefaultOpenAiKey,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? secrets = null,
        (string User, string Password)? ledger = null,
        int refreshSeconds = 300)
    {
        var providerKeys = new JsonObject();
        if (anthropic is not null)
        {
            providerKeys["anthropic"] = anthropic;
        }

        if (openai is not null)
        {
            providerKeys["openai"] = openai;
        }

        var secretsNode = new JsonObject();
        foreach (var (name, data) in secrets ?? new Dictionary<string, IReadOnlyDictionary<string, string>>())
        {
            var values = new JsonObject();
            foreach (var (key, value) in data)
            {
                values[key] = value;
            }

            secretsNode[name] = values;
        }

        var document = new JsonObject { ["providerKeys"] = providerKeys, ["secrets"] = secretsNode, ["refreshSeconds"] = refreshSeconds };
        if (ledger is { } credential)
        {
            document["ledger"] = new JsonObject { ["user"] = credential.User, ["password"] = credential.Password };
        }

        return document.ToJsonString();
    }

    /// <summary>Replaces the tokens the broker accepts (a rotated projected token: the old one is refused from now on).</summary>
    public void AcceptTokens(params string[] tokens)
    {
        lock (_lock)
        {
            _tokens = new HashSet<string>(tokens, StringComparer.Ordinal);
        }
    }

    /// <summary>What the broker answers from now on, verbatim (a test may send a broken document on purpose).</summary>
    public void SetAnswer(string json)
    {
        lock (_lock)
        {
            _answer = json;
        }
    }

    /// <summary>Refuses every request from now on, with the contract's error (403 forbidden, 503 unavailable …); null answers again.</summary>
    public void Refuse(int? status, string type = "unavailable")
    {
        lock (_lock)
        {
            _refusal = status is { } code ? (code, type) : null;
        }
    }

    /// <summary>Completes when the broker has received <paramref name="count"/> requests in all.</summary>
    public Task WaitForRequestsAsync(int count)
    {
        lock (_lock)
        {
            if (_requests >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, signal));
            return signal.Task;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        string answer;
        (int Status, string Type)? refusal;
        bool knownToken;
        var request = context.Request;
        var authorization = request.Headers.Authorization.ToString();
        var token = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;
        lock (_lock)
        {
            _requests++;
            foreach (var waiter in _waiters.Where(w => w.Count <= _requests).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Signal.TrySetResult();
            }

            answer = _answer;
            refusal = _refusal;
            knownToken = token is not null && _tokens.Contains(token);
            if (!knownToken)
            {
                RefusedTokens.Add(token ?? "(none)");
            }
        }

        if (request.Path != Path)
        {
            await ErrorAsync(context, StatusCodes.Status404NotFound, "not_found", "no such endpoint");
            return;
        }

        if (request.Method != HttpMethods.Post)
        {
            context.Response.Headers.Allow = "POST";
            await ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "method_not_allowed", "POST only");
            return;
        }

        var body = new MemoryStream();
        await request.Body.CopyToAsync(body, context.RequestAborted);
        if (body.Length > 0 || request.Query.Count > 0)
        {
            await ErrorAsync(context, StatusCodes.Status400BadRequest, "invalid_request", "the request must have an empty body and no query");
            return;
        }

        if (request.Headers.Authorization.Count != 1 || !knownToken)
        {
            await ErrorAsync(context, StatusCodes.Status401Unauthorized, "unauthenticated", "the token is missing, malformed, expired or of the wrong audience");
            return;
        }

        if (refusal is { } refused)
        {
            await ErrorAsync(context, refused.Status, refused.Type, $"refused by the test ({refused.Type})");
            return;
        }

        Interlocked.Increment(ref _answered);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(answer, Encoding.UTF8, context.RequestAborted);
    }

    private static Task ErrorAsync(HttpContext context, int status, string type, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { error = new { type, message } }), context.RequestAborted);
    }
}
