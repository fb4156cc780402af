using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Tollgate.Core.Budgets;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Usage;

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

    /// <summary>The budget-exceeded contract: 429, <c>Retry-After</c> to the period reset and <c>x-should-retry: false</c>.</summary>
    public static Task WriteBudgetExceededAsync(HttpContext context, ApiDialect dialect, BudgetAdmission admission)
    {
        var budget = admission.BlockingBudget!;
        var charge = admission.BlockingCharge!;
        var detail = BudgetMessages.Refused(admission);
        var headers = context.Response.Headers;
        headers.RetryAfter = charge.Window.SecondsUntilEnd(admission.At).ToString(CultureInfo.InvariantCulture);
        headers["x-should-retry"] = "false";
        headers["x-tollgate-budget"] = budget.Name;
        return WriteAsync(context, StatusCodes.Status429TooManyRequests, dialect, "budget_exceeded", detail, json =>
        {
            json.WriteString("rule_id", budget.Name);
            json.WriteString("detail", detail);
            json.WriteString("mitigation", budget.Mitigation ?? BudgetMessages.DefaultMitigation);
            if (BudgetMessages.Dashboard(budget) is { } dashboard)
            {
                json.WriteString("dashboard", dashboard);
            }
        });
    }

    /// <summary>
    /// A routing rule's request or token limit: 429 with <c>Retry-After</c> to when the window has room and
    /// <c>x-should-retry: true</c>, so SDKs wait and retry by themselves (unlike a spent budget, this passes).
    /// </summary>
    public static Task WriteRateLimitedAsync(HttpContext context, ApiDialect dialect, RateLimitCharge rule, RateLimitResult result)
    {
        var unit = result.Kind == RateLimitKind.Requests ? "requests" : "tokens";
        var seconds = (long)result.RetryAfter.TotalSeconds;
        var detail = $"Routing rule \"{rule.Key}\" allows {result.Limit} {unit} per minute and that is reached; retry in {seconds} s.";
        var headers = context.Response.Headers;
        headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        headers["x-should-retry"] = "true";
        headers["x-tollgate-rate-limit"] = rule.Key;
        return WriteAsync(context, StatusCodes.Status429TooManyRequests, dialect, "rate_limit_exceeded", detail, json =>
        {
            json.WriteString("rule_id", rule.Key);
            json.WriteString("detail", detail);
            json.WriteString("mitigation", "The SDK retries after Retry-After; if this recurs, spread the pipeline's requests or ask the platform team to raise the rule's limits.");
        });
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
