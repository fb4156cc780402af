using System.Buffers;
using System.Text.Json;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Usage;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The meter's own error responses, shaped so that each provider's SDK prints the message: OpenAI clients read
/// <c>error.message</c>; Anthropic clients also want <c>"type":"error"</c> and a known <c>error.type</c>.
/// </summary>
internal static class ErrorResponses
{
    // Messages are read by people in CI logs: keep quotes and punctuation readable instead of \u0022 escapes.
    // Safe here because the body is application/json, never embedded in HTML.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The request id the meter gives every request it answers, in <c>x-tollgate-request-id</c> and every error body.</summary>
    public const string RequestIdHeader = "x-tollgate-request-id";

    public static Task WriteAsync(HttpContext context, int status, ApiDialect dialect, string type, string message, Action<Utf8JsonWriter>? extra = null) =>
        WriteAsync(context, status, dialect == ApiDialect.Passthrough ? Providers.OpenAI : Providers.Of(dialect), type, message, extra);

    /// <summary>An error in the shape of <paramref name="provider"/>'s own errors, so that its SDKs print the message.</summary>
    public static Task WriteAsync(HttpContext context, int status, string provider, string type, string message, Action<Utf8JsonWriter>? extra = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            var anthropic = provider == Providers.Anthropic;
            if (anthropic)
            {
                json.WriteString("type", "error");
            }

            json.WriteStartObject("error");
            json.WriteString("type", anthropic ? AnthropicType(type) : type);
            json.WriteString("message", message);
            if (anthropic && AnthropicType(type) != type)
            {
                json.WriteString("tollgate_type", type);
            }

            json.WriteEndObject();
            extra?.Invoke(json);
            if (response.Headers.TryGetValue(RequestIdHeader, out var requestId))
            {
                json.WriteString("request_id", requestId.ToString());
            }

            json.WriteEndObject();
        }

        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).AsTask();
    }

    /// <summary>A stage's refusal: its headers, status and error.</summary>
    public static Task WriteAsync(HttpContext context, Refusal refusal)
    {
        foreach (var (name, value) in refusal.Headers)
        {
            context.Response.Headers[name] = value;
        }

        return WriteAsync(context, refusal.Status, refusal.Provider, refusal.Type, refusal.Message, refusal.Details);
    }

    /// <summary>An answer of the meter's own that replaces whatever the response held so far, keeping the request id.</summary>
    public static Task WriteFailureAsync(HttpContext context, string provider, int status, string type, string message)
    {
        var requestId = context.Response.Headers[RequestIdHeader];
        context.Response.Clear();
        context.Response.Headers[RequestIdHeader] = requestId;
        return WriteAsync(context, status, provider, type, message);
    }

    /// <summary>The sentence for a request whose HTTP framing or pace Kestrel refused.</summary>
    public static string Unreadable(BadHttpRequestException ex) =>
        $"The request could not be read ({(ex.StatusCode == StatusCodes.Status408RequestTimeout ? "the body arrived too slowly" : "malformed HTTP framing")}).";

    /// <summary>The upstream gave no response the client could get: 502, or 504 when it did not answer in time.</summary>
    public static Task WriteUpstreamUnavailableAsync(HttpContext context, ApiDialect dialect, Upstream upstream, ForwarderError error)
    {
        // The exception stays in the log: its text can name internal hosts and addresses.
        var (status, reason) = error switch
        {
            ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, "it did not answer in time"),
            ForwarderError.Request => (StatusCodes.Status502BadGateway, "the connection failed"),
            ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination or ForwarderError.ResponseBodyCanceled => (StatusCodes.Status502BadGateway, "its response broke off"),
            ForwarderError.NoAvailableDestinations => (StatusCodes.Status502BadGateway, "every routed target is unavailable"),
            _ => (StatusCodes.Status502BadGateway, "the exchange failed"),
        };
        return WriteAsync(context, status, dialect == ApiDialect.Passthrough ? upstream.Provider : Providers.Of(dialect), "upstream_unavailable",
            $"The meter could not get a response from the {upstream.Provider} upstream: {reason}. Retry; if it persists, the meter's log has the cause under request id {context.Response.Headers[RequestIdHeader]}.");
    }

    private static string AnthropicType(string type) => type switch
    {
        "budget_exceeded" or "rate_limit_exceeded" => "rate_limit_error",
        "invalid_request" or "invalid_metadata" or "missing_metadata" => "invalid_request_error",
        "endpoint_not_metered" => "permission_error",
        "request_too_large" => "request_too_large",
        "upstream_unavailable" or "ledger_unavailable" => "api_error",
        _ => "api_error",
    };
}
