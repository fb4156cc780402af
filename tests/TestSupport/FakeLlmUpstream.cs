using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Tollgate.TestSupport;

/// <summary>
/// A real HTTP server on loopback that speaks the Anthropic and OpenAI wire formats, with per-request
/// <c>x-fake-*</c> header knobs for usage, model, chunking, delays, errors and disconnects. It is as strict as the
/// real provider edges unless told otherwise (<see cref="FakeUpstreamOptions"/>): it checks the authority, the key in
/// the provider's form and, over TLS, the SNI; it speaks HTTP/2 over TLS; it answers gzip when the client admits it.
/// </summary>
public sealed class FakeLlmUpstream : IAsyncDisposable
{
    /// <summary>The most requests kept; older ones are dropped so a long benchmark with recording on stays bounded.</summary>
    public const int MaxRecordedRequests = 10_000;

    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(1);

    private readonly WebApplication _app;
    private readonly FakeUpstreamOptions _options;
    private readonly TestCertificateAuthority? _ownedAuthority;
    private readonly Queue<RecordedRequest> _requests = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<ScriptedFailure> _failures = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _refusedServerNames = new();
    private readonly Lock _requestsLock = new();
    private int _activeStreams;
    private int _cancelledStreams;
    private int _completedStreams;
    private int _port;

    private FakeLlmUpstream(WebApplication app, FakeUpstreamOptions options, TestCertificateAuthority? ownedAuthority)
    {
        _app = app;
        _options = options;
        _ownedAuthority = ownedAuthority;
        CertificateAuthority = options.CertificateAuthority ?? ownedAuthority;
    }

    /// <summary>
    /// Origin of the server: <c>http://127.0.0.1:41234/</c>, or over TLS <c>https://localhost:41234/</c> (the name the
    /// certificate and the SNI check expect).
    /// </summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The CA that issued the TLS server certificate; null over plain HTTP.</summary>
    public TestCertificateAuthority? CertificateAuthority { get; }

    /// <summary>Usage reported when <c>x-fake-usage</c> does not set a type.</summary>
    public FakeUsage DefaultUsage { get; set; } = new(Input: 100, Output: 20);

    /// <summary>Recording costs a string per body and a dictionary per request; benchmarks turn it off.</summary>
    public bool RecordRequests { get; set; } = true;

    /// <summary>A snapshot, oldest first, of at most <see cref="MaxRecordedRequests"/> requests.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_requestsLock)
            {
                return _requests.ToArray();
            }
        }
    }

    /// <summary>SNI names (empty for none) of TLS handshakes refused because they did not name this server.</summary>
    public IReadOnlyList<string> RefusedServerNames => _refusedServerNames.ToArray();

    /// <summary>Streams currently being written.</summary>
    public int ActiveStreams => Volatile.Read(ref _activeStreams);

    /// <summary>Streams ended early because the client went away (not counting <c>x-fake-disconnect-after</c>).</summary>
    public int CancelledStreams => Volatile.Read(ref _cancelledStreams);

    /// <summary>Streams that sent their last event.</summary>
    public int CompletedStreams => Volatile.Read(ref _completedStreams);

    /// <summary>Starts a strict plain-HTTP fake on an ephemeral loopback port.</summary>
    public static Task<FakeLlmUpstream> StartAsync(CancellationToken ct = default) => StartAsync(new FakeUpstreamOptions(), ct);

    /// <summary>Starts a fake as <paramref name="options"/> say.</summary>
    public static async Task<FakeLlmUpstream> StartAsync(FakeUpstreamOptions options, CancellationToken ct = default)
    {
        var ownedAuthority = options.Tls && options.CertificateAuthority is null ? TestCertificateAuthority.Create() : null;
        var authority = options.CertificateAuthority ?? ownedAuthority;
        FakeLlmUpstream? upstream = null;

        // The empty builder has no logging providers, configuration sources or routing: nothing on the hot path but Kestrel.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            // The whole body is buffered before parsing; a bounded pipe would stall on prompts over 1 MB.
            kestrel.Limits.MaxRequestBufferSize = null;
            kestrel.Listen(IPAddress.Loopback, options.Port, listen =>
            {
                if (authority is null)
                {
                    return;
                }

                listen.Protocols = options.Protocols;
                listen.UseHttps(https => https.ServerCertificateSelector = (_, serverName) => upstream!.SelectCertificate(serverName, authority));
            });
        });

        var app = builder.Build();
        upstream = new FakeLlmUpstream(app, options, ownedAuthority);
        app.Run(upstream.HandleAsync);
        try
        {
            await app.StartAsync(ct);
            var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>();
            var bound = new Uri(addresses.Addresses.First());
            upstream._port = bound.Port;
            upstream.BaseUri = authority is null ? bound : new Uri($"https://{TestCertificateAuthority.ServerName}:{bound.Port}/");
            return upstream;
        }
        catch
        {
            await app.DisposeAsync();
            ownedAuthority?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Makes the next <paramref name="times"/> requests fail with <paramref name="status"/> (and a <c>Retry-After</c>
    /// when given), whatever they ask: how a test makes one upstream of several fail on command.
    /// </summary>
    public void FailNext(int times, int status, int? retryAfterSeconds = null)
    {
        for (var i = 0; i < times; i++)
        {
            _failures.Enqueue(new ScriptedFailure(status, retryAfterSeconds, TimeSpan.Zero));
        }
    }

    /// <summary>Makes the next <paramref name="times"/> requests wait <paramref name="delay"/> before answering (a hung provider).</summary>
    public void StallNext(int times, TimeSpan delay)
    {
        for (var i = 0; i < times; i++)
        {
            _failures.Enqueue(new ScriptedFailure(null, null, delay));
        }
    }

    public void ClearRequests()
    {
        lock (_requestsLock)
        {
            _requests.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Without a deadline Kestrel waits for in-flight slow streams; a test's teardown should not.
        using var deadline = new CancellationTokenSource(ShutdownGrace);
        await _app.StopAsync(deadline.Token);
        await _app.DisposeAsync();
        _ownedAuthority?.Dispose();
    }

    /// <summary>
    /// Like a CDN edge, the handshake fails unless SNI names this server: a client that connects by address or sends
    /// another name (for example one copied from the client's <c>Host</c>) never gets as far as HTTP.
    /// </summary>
    private System.Security.Cryptography.X509Certificates.X509Certificate2? SelectCertificate(string? serverName, TestCertificateAuthority authority)
    {
        if (_options.Lenient || string.Equals(serverName, TestCertificateAuthority.ServerName, StringComparison.OrdinalIgnoreCase))
        {
            return authority.ServerCertificate;
        }

        _refusedServerNames.Enqueue(serverName ?? string.Empty);
        return null;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var request = context.Request;
        var receivedAt = DateTimeOffset.UtcNow;
        var bodyReader = request.BodyReader;
        ReadResult read;
        try
        {
            while (true)
            {
                read = await bodyReader.ReadAsync(ct);
                if (read.IsCompleted || read.IsCanceled)
                {
                    break;
                }

                bodyReader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            return;
        }

        var route = Route(request.Path.Value);
        var anthropic = route is Endpoint.Messages or Endpoint.CountTokens
            || (route == Endpoint.Models && request.Headers.ContainsKey("anthropic-version"));
        RequestBody body = default;
        string? bodyError = null;
        try
        {
            if (RecordRequests)
            {
                Record(context, read.Buffer, receivedAt, anthropic);
            }

            body = RequestBody.Parse(read.Buffer);
        }
        catch (JsonException e)
        {
            bodyError = "Could not parse the JSON body of your request: " + e.Message;
        }
        finally
        {
            bodyReader.AdvanceTo(read.Buffer.End);
        }

        // The edge routes by authority before anything reaches the API, so a foreign Host never sees an API error.
        if (!_options.Lenient && !NamesThisServer(request.Host))
        {
            await RefuseForeignHostAsync(context.Response, ct);
            return;
        }

        context.Response.Headers[anthropic ? "request-id" : "x-request-id"] =
            anthropic ? Ids.Base62Id("req_011C", 20) : Ids.HexId("req_", 32);

        if (route == Endpoint.NotFound)
        {
            await WriteErrorAsync(context, anthropic: false, StatusCodes.Status404NotFound,
                $"Invalid URL ({request.Method} {request.Path})", ct);
            return;
        }

        if (!_options.Lenient && Authenticate(request, anthropic) is { } refusal)
        {
            await WriteErrorAsync(context, anthropic, refusal.Status, refusal.Message, ct, refusal.OpenAiCode);
            return;
        }

        var expectedMethod = route is Endpoint.Models or Endpoint.Files ? HttpMethods.Get : HttpMethods.Post;
        if (!HttpMethods.Equals(request.Method, expectedMethod))
        {
            await WriteErrorAsync(context, anthropic, StatusCodes.Status405MethodNotAllowed,
                $"Method {request.Method} not allowed on {request.Path}; use {expectedMethod}", ct);
            return;
        }

        var knobs = FakeKnobs.Parse(request.Headers, DefaultUsage, out var knobError);
        if (knobs is null || bodyError is not null)
        {
            await WriteErrorAsync(context, anthropic, StatusCodes.Status400BadRequest, knobError ?? bodyError!, ct);
            return;
        }

        if (_failures.TryDequeue(out var scripted))
        {
            if (scripted.Stall > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(scripted.Stall, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            if (scripted.Status is { } failure)
            {
                if (scripted.RetryAfterSeconds is { } retryAfter)
                {
                    context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                await WriteErrorAsync(context, anthropic, failure, ErrorMessage(failure), ct);
                return;
            }
        }

        if (knobs.Status is { } status)
        {
            await WriteErrorAsync(context, anthropic, status, ErrorMessage(status), ct);
            return;
        }

        var exchange = new FakeExchange(body, knobs);
        try
        {
            await RespondAsync(context, route, exchange, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away mid-response; Kestrel cleans up the connection.
        }
        finally
        {
            exchange.ReturnBuffers();
        }
    }

    private async Task RespondAsync(HttpContext context, Endpoint route, FakeExchange exchange, CancellationToken ct)
    {
        var streaming = exchange.Body.Stream && route is Endpoint.Messages or Endpoint.ChatCompletions or Endpoint.Completions or Endpoint.Responses;
        if (exchange.Knobs.DisconnectAfter is not null && !streaming)
        {
            // A non-streaming call has no deltas to count: the upstream dies before answering.
            context.Abort();
            return;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = streaming ? "text/event-stream; charset=utf-8" : "application/json";
        if (streaming)
        {
            response.Headers.CacheControl = "no-cache";
        }

        // Like the provider edges: compressed whenever the client admits gzip, so a proxy that forwards Accept-Encoding gets gzip.
        var gzip = AcceptsGzip(context.Request);
        if (gzip)
        {
            response.Headers.ContentEncoding = "gzip";
            response.Headers.Vary = "Accept-Encoding";
        }

        await using var sink = new ResponseSink(response, gzip);
        Dialect? dialect = route switch
        {
            Endpoint.Messages => new AnthropicDialect(sink, exchange),
            Endpoint.ChatCompletions => new OpenAiChatDialect(sink, exchange),
            Endpoint.Completions => new OpenAiCompletionsDialect(sink, exchange),
            Endpoint.Responses => new OpenAiResponsesDialect(sink, exchange),
            _ => null,
        };

        if (dialect is null)
        {
            WriteSimpleBody(sink, route, exchange, anthropicModels: context.Request.Headers.ContainsKey("anthropic-version"));
            await sink.FlushAsync(ct);
        }
        else if (!streaming)
        {
            dialect.WriteBody();
            await sink.FlushAsync(ct);
        }
        else
        {
            await StreamAsync(context, dialect, sink, exchange.Knobs, ct);
        }
    }

    private async Task StreamAsync(HttpContext context, Dialect dialect, ResponseSink sink, FakeKnobs knobs, CancellationToken ct)
    {
        Interlocked.Increment(ref _activeStreams);
        var outcome = StreamOutcome.Failed;
        try
        {
            for (var i = 0; i < dialect.PreambleEvents; i++)
            {
                dialect.WritePreambleEvent(i);
                await sink.FlushAsync(ct);
            }

            for (var i = 0; i < knobs.Chunks; i++)
            {
                if (i == knobs.DisconnectAfter)
                {
                    break;
                }

                if (knobs.ChunkDelayMs > 0)
                {
                    await Task.Delay(knobs.ChunkDelayMs, ct);
                }

                dialect.WriteDeltaEvent(i);
                await sink.FlushAsync(ct);
            }

            if (knobs.DisconnectAfter is not null)
            {
                // Abort rather than end the response: the proxy must see a broken stream with no usage events.
                // Wait first: a TCP reset makes the peer discard data it has not read yet, and a real provider
                // that dies mid-stream has delivered the events it sent before.
                outcome = StreamOutcome.Disconnected;
                await Task.Delay(100, ct);
                context.Abort();
                return;
            }

            for (var i = 0; i < dialect.EndEvents; i++)
            {
                dialect.WriteEndEvent(i);
                await sink.FlushAsync(ct);
            }

            outcome = StreamOutcome.Completed;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            outcome = StreamOutcome.ClientGone;
        }
        finally
        {
            Interlocked.Decrement(ref _activeStreams);
            if (outcome == StreamOutcome.Completed)
            {
                Interlocked.Increment(ref _completedStreams);
            }
            else if (outcome == StreamOutcome.ClientGone)
            {
                Interlocked.Increment(ref _cancelledStreams);
            }
        }
    }

    private static void WriteSimpleBody(ResponseSink sink, Endpoint route, FakeExchange exchange, bool anthropicModels)
    {
        switch (route)
        {
            case Endpoint.CountTokens:
            {
                var w = sink.BeginJson(default);
                w.WriteStartObject();
                w.WriteNumber("input_tokens"u8, exchange.Usage.Input);
                w.WriteEndObject();
                sink.EndJson(default);
                break;
            }

            case Endpoint.Embeddings:
            {
                var w = sink.BeginJson(default);
                w.WriteStartObject();
                w.WriteString("object"u8, "list"u8);
                w.WriteStartArray("data"u8);
                w.WriteStartObject();
                w.WriteString("object"u8, "embedding"u8);
                w.WriteNumber("index"u8, 0);
                w.WriteStartArray("embedding"u8);
                foreach (var value in Embedding)
                {
                    w.WriteNumberValue(value);
                }

                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteString("model"u8, exchange.Model);
                w.WriteStartObject("usage"u8);
                w.WriteNumber("prompt_tokens"u8, exchange.Usage.Input);
                w.WriteNumber("total_tokens"u8, exchange.Usage.Input);
                w.WriteEndObject();
                w.WriteEndObject();
                sink.EndJson(default);
                break;
            }

            case Endpoint.Files:
                sink.Write("""{"object":"list","data":[],"has_more":false}"""u8);
                break;

            default:
                sink.Write(anthropicModels ? AnthropicModels : OpenAiModels);
                break;
        }
    }

    private static async Task WriteErrorAsync(
        HttpContext context, bool anthropic, int status, string message, CancellationToken ct, string? openAiCode = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (status == StatusCodes.Status429TooManyRequests)
        {
            response.Headers.RetryAfter = "1";
        }

        var gzip = AcceptsGzip(context.Request);
        if (gzip)
        {
            response.Headers.ContentEncoding = "gzip";
            response.Headers.Vary = "Accept-Encoding";
        }

        await using var sink = new ResponseSink(response, gzip);
        var w = sink.BeginJson(default);
        w.WriteStartObject();
        if (anthropic)
        {
            w.WriteString("type"u8, "error"u8);
            w.WriteStartObject("error"u8);
            w.WriteString("type"u8, AnthropicErrorType(status));
            w.WriteString("message"u8, message);
            w.WriteEndObject();
        }
        else
        {
            w.WriteStartObject("error"u8);
            w.WriteString("message"u8, message);
            w.WriteString("type"u8, OpenAiErrorType(status));
            w.WriteNull("param"u8);
            if (openAiCode is null)
            {
                w.WriteNull("code"u8);
            }
            else
            {
                w.WriteString("code"u8, openAiCode);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
        sink.EndJson(default);
        try
        {
            await sink.FlushAsync(ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Nobody is listening for the error any more.
        }
    }

    /// <summary>Cloudflare's answer to a Host that no zone of its own serves (error 1003), plain text and no request id.</summary>
    private static async Task RefuseForeignHostAsync(HttpResponse response, CancellationToken ct)
    {
        response.StatusCode = StatusCodes.Status403Forbidden;
        response.ContentType = "text/plain; charset=UTF-8";
        try
        {
            await response.Body.WriteAsync("error code: 1003"u8.ToArray(), ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Nobody is listening for the refusal any more.
        }
    }

    /// <summary>True when the authority is one of this server's names with its port: what a client that means it would send.</summary>
    private bool NamesThisServer(HostString host) =>
        host.Port == _port
        && (string.Equals(host.Host, TestCertificateAuthority.ServerName, StringComparison.OrdinalIgnoreCase)
            || host.Host == "127.0.0.1");

    /// <summary>The provider's own refusal when the key is missing, not in its form, or not one it issued; null when accepted.</summary>
    private AuthRefusal? Authenticate(HttpRequest request, bool anthropic)
    {
        if (anthropic)
        {
            var key = SingleHeader(request, "x-api-key");
            if (key is null)
            {
                return new AuthRefusal(StatusCodes.Status401Unauthorized, "x-api-key header is required", null);
            }

            if (!_options.AnthropicKeys.Contains(key, StringComparer.Ordinal))
            {
                return new AuthRefusal(StatusCodes.Status401Unauthorized, "invalid x-api-key", null);
            }

            return SingleHeader(request, "anthropic-version") is null
                ? new AuthRefusal(StatusCodes.Status400BadRequest, "anthropic-version: header is required", null)
                : null;
        }

        var token = BearerToken(request);
        if (token is null)
        {
            return new AuthRefusal(StatusCodes.Status401Unauthorized,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                null);
        }

        return _options.OpenAiKeys.Contains(token, StringComparer.Ordinal)
            ? null
            : new AuthRefusal(StatusCodes.Status401Unauthorized, $"Incorrect API key provided: {Mask(token)}.", "invalid_api_key");
    }

    private static string? SingleHeader(HttpRequest request, string name) =>
        request.Headers[name] is { Count: 1 } values && !string.IsNullOrEmpty(values[0]) ? values[0] : null;

    /// <summary>The token of a single <c>Authorization: Bearer</c> header (the scheme is case-insensitive, RFC 9110 §11.1).</summary>
    private static string? BearerToken(HttpRequest request)
    {
        const string Scheme = "Bearer ";
        var value = SingleHeader(request, "Authorization");
        return value is not null && value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) && value[Scheme.Length..].Trim() is { Length: > 0 } token
            ? token
            : null;
    }

    private static string Mask(string key) => key.Length <= 8 ? "****" : key[..3] + new string('*', 8) + key[^4..];

    private static string AnthropicErrorType(int status) => status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    private static string OpenAiErrorType(int status) => status switch
    {
        429 => "rate_limit_exceeded",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    private static string ErrorMessage(int status) => status switch
    {
        400 => "Fake upstream: invalid request (x-fake-status: 400).",
        429 => "Fake upstream: rate limit reached (x-fake-status: 429).",
        529 => "Overloaded",
        >= 500 => "Fake upstream: internal server error (x-fake-status).",
        _ => "Fake upstream: error requested by x-fake-status.",
    };

    private static Endpoint Route(string? path) => path switch
    {
        "/v1/messages" => Endpoint.Messages,
        "/v1/messages/count_tokens" => Endpoint.CountTokens,
        "/v1/chat/completions" => Endpoint.ChatCompletions,
        "/v1/completions" => Endpoint.Completions,
        "/v1/responses" => Endpoint.Responses,
        "/v1/embeddings" => Endpoint.Embeddings,
        "/v1/models" => Endpoint.Models,
        "/v1/files" => Endpoint.Files,
        _ => Endpoint.NotFound,
    };

    /// <summary>True when Accept-Encoding admits gzip (explicitly or via <c>*</c>) with a non-zero quality.</summary>
    private static bool AcceptsGzip(HttpRequest request)
    {
        foreach (var value in request.Headers.AcceptEncoding)
        {
            var span = value.AsSpan();
            foreach (var range in span.Split(','))
            {
                var token = span[range].Trim();
                var semicolon = token.IndexOf(';');
                var name = (semicolon < 0 ? token : token[..semicolon]).Trim();
                if (!name.Equals("gzip", StringComparison.OrdinalIgnoreCase) && !name.SequenceEqual("*"))
                {
                    continue;
                }

                if (semicolon >= 0 && IsZeroQuality(token[(semicolon + 1)..]))
                {
                    continue;
                }

                return true;
            }
        }

        return false;
    }

    private static bool IsZeroQuality(ReadOnlySpan<char> parameters)
    {
        var parameter = parameters.Trim();
        return parameter.StartsWith("q=", StringComparison.OrdinalIgnoreCase)
            && double.TryParse(parameter[2..], NumberStyles.Float, CultureInfo.InvariantCulture, out var q)
            && q <= 0;
    }

    private void Record(HttpContext context, ReadOnlySequence<byte> body, DateTimeOffset receivedAt, bool anthropic)
    {
        var request = context.Request;
        var headers = new Dictionary<string, string>(request.Headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in request.Headers)
        {
            headers[name] = value.ToString();
        }

        var recorded = new RecordedRequest(request.Method, request.Path.Value ?? "", headers, Encoding.UTF8.GetString(body), receivedAt)
        {
            Query = request.QueryString.Value ?? "",
            Host = request.Host.Value ?? "",
            Protocol = request.Protocol,
            TlsServerName = context.Features.Get<ITlsHandshakeFeature>()?.HostName is { Length: > 0 } sni ? sni : null,
            ApiKey = anthropic ? SingleHeader(request, "x-api-key") : BearerToken(request),
        };

        lock (_requestsLock)
        {
            _requests.Enqueue(recorded);
            if (_requests.Count > MaxRecordedRequests)
            {
                _requests.Dequeue();
            }
        }
    }

    private static readonly double[] Embedding = [0.0023064255, -0.009327292, 0.015797347, -0.0077780345, 0.0041091265, 0.021542, -0.0034675214, 0.011020615];

    private static ReadOnlySpan<byte> OpenAiModels =>
        """{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"gpt-4.1","object":"model","created":1744316542,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}"""u8;

    private static ReadOnlySpan<byte> AnthropicModels =>
        """{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},{"type":"model","id":"claude-haiku-4-5-20251001","display_name":"Claude Haiku 4.5","created_at":"2025-10-15T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5-20250929","last_id":"claude-haiku-4-5-20251001"}"""u8;

    private enum Endpoint
    {
        NotFound,
        Messages,
        CountTokens,
        ChatCompletions,
        Completions,
        Responses,
        Embeddings,
        Models,

        /// <summary>OpenAI's file list (GET), always empty: something a meter forwards only when allowed unmetered.</summary>
        Files,
    }

    private enum StreamOutcome
    {
        Failed,
        Completed,
        Disconnected,
        ClientGone,
    }
}

/// <summary>Why the fake refused a request's credentials: the status, the provider's message, and OpenAI's error code.</summary>
internal sealed record AuthRefusal(int Status, string Message, string? OpenAiCode);

/// <summary>A failure queued by <see cref="FakeLlmUpstream.FailNext"/> or <see cref="FakeLlmUpstream.StallNext"/>.</summary>
internal sealed record ScriptedFailure(int? Status, int? RetryAfterSeconds, TimeSpan Stall);
