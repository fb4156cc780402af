using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Tollgate.Core.Redis;

namespace Tollgate.Meter.Keys;

/// <summary>
/// Asks the operator's key broker for this pod's credentials: <c>POST</c> with the pod's projected service-account token
/// as a bearer token, over TLS that trusts <c>--key-broker-ca</c> only. The token file is read at every fetch because
/// the kubelet rotates it. Answers are bounded in size and time and parsed strictly; no token or key ever reaches an
/// exception message.
/// </summary>
internal sealed class KeyBrokerClient : IDisposable
{
    /// <summary>Largest answer read: far above any real one (a few keys), small enough that a broken broker cannot flood the meter.</summary>
    public const int MaxResponseBytes = 1024 * 1024;

    /// <summary>Largest token file read: projected tokens are around 1 KB.</summary>
    public const int MaxTokenBytes = 16 * 1024;

    /// <summary>Time a fetch may take in all, connection included.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private const int MaxKeyLength = 8 * 1024;

    private readonly Uri _endpoint;
    private readonly string _tokenPath;
    private readonly TimeProvider _time;
    private readonly HttpMessageInvoker _invoker;

    public KeyBrokerClient(Uri endpoint, string tokenPath, string caPath, TimeProvider time)
    {
        _endpoint = endpoint;
        _tokenPath = tokenPath;
        _time = time;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(5),

            // The broker's replicas sit behind a Service: a fresh connection now and then spreads meters across them.
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxResponseHeadersLength = 64,
        };
        handler.SslOptions.RemoteCertificateValidationCallback = KeyBrokerTrust.CreateValidator(KeyBrokerTrust.LoadBundle(caPath));
        _invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <exception cref="KeyBrokerException">The fetch failed; <see cref="KeyBrokerException.Outcome"/> says how.</exception>
    public async Task<KeySet> FetchAsync(CancellationToken cancellationToken)
    {
        var token = await ReadTokenAsync(cancellationToken);
        using var timeout = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new ByteArrayContent([]) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await _invoker.SendAsync(request, linked.Token);
            var body = await ReadBoundedAsync(response, linked.Token);
            return response.StatusCode switch
            {
                HttpStatusCode.OK => Parse(response, body),
                HttpStatusCode.Unauthorized => throw Refused(KeyBrokerException.Unauthenticated, response, body),
                HttpStatusCode.Forbidden => throw Refused(KeyBrokerException.Forbidden, response, body),
                >= HttpStatusCode.InternalServerError => throw Refused(KeyBrokerException.Unavailable, response, body),
                _ => throw Refused(KeyBrokerException.InvalidResponse, response, body),
            };
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new KeyBrokerException(KeyBrokerException.Unreachable, $"no answer from {_endpoint} within {Timeout.TotalSeconds:0} s", ex);
        }
        catch (IOException ex)
        {
            // The connection broke while the answer was read.
            throw new KeyBrokerException(KeyBrokerException.Unreachable, $"the answer from {_endpoint} was cut off: {ex.Message}", ex);
        }
        catch (HttpRequestException ex)
        {
            // The message names the endpoint and the socket or TLS error, never the request's headers.
            throw new KeyBrokerException(KeyBrokerException.Unreachable, $"{_endpoint} cannot be reached: {ex.Message}{(ex.InnerException is { } inner ? " (" + inner.Message + ")" : string.Empty)}", ex);
        }
    }

    public void Dispose() => _invoker.Dispose();

    private async Task<string> ReadTokenAsync(CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(_tokenPath, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new KeyBrokerException(KeyBrokerException.TokenUnreadable, $"the token file {_tokenPath} cannot be read: {ex.Message}", ex);
        }

        var token = bytes.Length <= MaxTokenBytes ? System.Text.Encoding.ASCII.GetString(bytes).Trim() : string.Empty;
        return token.Length > 0 && token.All(c => c is > ' ' and < (char)127)
            ? token
            : throw new KeyBrokerException(KeyBrokerException.TokenUnreadable, $"the token file {_tokenPath} holds no token (empty, larger than {MaxTokenBytes} bytes, or not printable ASCII)");
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MaxResponseBytes)
        {
            throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"the answer ({response.StatusCode:D}) is larger than {MaxResponseBytes} bytes");
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            using var body = new MemoryStream();
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (body.Length + read > MaxResponseBytes)
                {
                    throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"the answer ({response.StatusCode:D}) is larger than {MaxResponseBytes} bytes");
                }

                body.Write(buffer, 0, read);
            }

            return body.ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    private static KeySet Parse(HttpResponseMessage response, byte[] body)
    {
        if (response.Content.Headers.ContentType?.MediaType is not "application/json")
        {
            throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"the answer is {response.Content.Headers.ContentType?.MediaType ?? "untyped"}, not application/json");
        }

        KeyBrokerResponse? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, KeyBrokerJsonContext.Default.KeyBrokerResponse);
        }
        catch (JsonException ex)
        {
            // The path only: System.Text.Json's message may quote the offending text, which could be a key.
            throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"the answer is not the credentials document (at {ex.Path ?? "$"})");
        }

        if (parsed is null)
        {
            throw new KeyBrokerException(KeyBrokerException.InvalidResponse, "the answer is null");
        }

        if (parsed.RefreshSeconds is < 1 or > 86_400)
        {
            throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"refreshSeconds {parsed.RefreshSeconds} is outside 1..86400");
        }

        var providerKeys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (provider, key) in parsed.ProviderKeys)
        {
            providerKeys[provider] = CheckKey(key, $"providerKeys.{provider}");
        }

        var secrets = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (name, data) in parsed.Secrets ?? [])
        {
            if (data is null)
            {
                throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"secrets.{name} is null");
            }

            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in data)
            {
                values[key] = CheckKey(value, $"secrets.{name}.{key}");
            }

            secrets[name] = values;
        }

        RedisLedgerCredential? ledger = null;
        if (parsed.Ledger is { } given)
        {
            ledger = new RedisLedgerCredential(
                string.IsNullOrEmpty(given.User) ? null : CheckKey(given.User, "ledger.user"),
                CheckKey(given.Password, "ledger.password"));
        }

        return new KeySet(providerKeys, secrets, ledger, TimeSpan.FromSeconds(parsed.RefreshSeconds));
    }

    /// <summary>A key goes into an HTTP header or a Redis AUTH: non-empty, bounded, visible ASCII only.</summary>
    private static string CheckKey(string? value, string where)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxKeyLength || !value.All(c => c is > ' ' and < (char)127))
        {
            throw new KeyBrokerException(KeyBrokerException.InvalidResponse, $"{where} is empty, longer than {MaxKeyLength} characters or not printable ASCII");
        }

        return value;
    }

    private static KeyBrokerException Refused(string outcome, HttpResponseMessage response, byte[] body)
    {
        string? type = null;
        string? message = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            try
            {
                var error = JsonSerializer.Deserialize(body, KeyBrokerJsonContext.Default.KeyBrokerError);
                (type, message) = (error?.Error?.Type, error?.Error?.Message);
            }
            catch (JsonException)
            {
                // Said below: the answer had no readable error.
            }
        }

        var detail = type is null ? "no error document" : $"{Printable(type, 40)}: {Printable(message ?? string.Empty, 300)}";
        return new KeyBrokerException(outcome, $"the broker answered {(int)response.StatusCode} ({detail})");
    }

    /// <summary>The broker's own words, cut and stripped of control characters so they cannot forge log lines.</summary>
    private static string Printable(string text, int max)
    {
        var clean = new string([.. text.Take(max).Select(c => char.IsControl(c) ? ' ' : c)]);
        return text.Length > max ? clean + "…" : clean;
    }
}
