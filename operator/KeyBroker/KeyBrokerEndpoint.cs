using System.Text.Json;
using k8s;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.KeyBroker;

/// <summary>
/// <c>POST /meter/v1/credentials</c> on the webhook's HTTPS listener: the injected meter's provider keys, routing rules'
/// key Secrets and ledger credentials, for a pod-bound service-account token of audience <c>tollgate.io/meter</c> whose
/// pod carries the meter as injected. Nothing in a metered namespace has to hold a key.
/// </summary>
/// <remarks>
/// Answers: 200 with <see cref="BrokerCredentials"/>; 401 <c>unauthenticated</c> (no, bad, expired or wrong-audience
/// token, or one not bound to a pod); 403 <c>forbidden</c> (the namespace is not metered; the pod is gone, recreated,
/// terminating, of another service account, opted out, or does not carry the meter as injected); 503 <c>unavailable</c>
/// (the API server could not be asked); 400 and 405 for requests no meter sends. Every answer is <c>no-store</c>.
/// </remarks>
public sealed class KeyBrokerEndpoint(
    TokenReviewer reviewer,
    MeterPodVerifier verifier,
    BrokerSecrets secrets,
    KeyBrokerMetrics metrics,
    ILogger<KeyBrokerEndpoint> logger)
{
    public const string Path = "/meter/v1/credentials";

    /// <summary>Service-account tokens are a couple of kilobytes; anything this long is not one and is not sent on.</summary>
    public const int MaxTokenLength = 16 * 1024;

    /// <summary>The broker as the operator runs it: its own checks on top of the webhook's view of namespaces and its injector.</summary>
    public static KeyBrokerEndpoint Create(
        IKubernetes client,
        INamespaceLookup namespaces,
        SidecarOptions sidecar,
        KeyBrokerOptions options,
        string operatorNamespace,
        TimeProvider time,
        ILoggerFactory loggerFactory,
        KeyBrokerMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var brokerOptions = Options.Create(options);
        return new KeyBrokerEndpoint(
            new TokenReviewer(client, new TokenReviewCache(time, brokerOptions), brokerOptions),
            new MeterPodVerifier(client, namespaces, new SidecarInjector(Options.Create(sidecar)), brokerOptions),
            new BrokerSecrets(client, brokerOptions, operatorNamespace, loggerFactory.CreateLogger<BrokerSecrets>()),
            metrics ?? new KeyBrokerMetrics(),
            loggerFactory.CreateLogger<KeyBrokerEndpoint>());
    }

    public KeyBrokerMetrics Metrics => metrics;

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            response.Headers.Allow = "POST";
            await ErrorAsync(context, StatusCodes.Status405MethodNotAllowed, BrokerOutcome.BadRequest, "method_not_allowed", "only POST is served here");
            return;
        }

        if (!await BodyIsEmptyAsync(context.Request, context.RequestAborted))
        {
            await ErrorAsync(context, StatusCodes.Status400BadRequest, BrokerOutcome.BadRequest, "bad_request", "the request has no body; the token goes in the Authorization header");
            return;
        }

        if (BearerToken(context.Request.Headers.Authorization) is not { } token)
        {
            await ErrorAsync(context, StatusCodes.Status401Unauthorized, BrokerOutcome.Unauthenticated, "unauthenticated", "expected Authorization: Bearer <the meter's service account token>");
            return;
        }

        try
        {
            var verdict = await reviewer.ReviewAsync(token, context.RequestAborted);
            if (verdict.Identity is not { } identity)
            {
                KeyBrokerLog.Unauthenticated(logger, verdict.Problem!);
                await ErrorAsync(context, StatusCodes.Status401Unauthorized, BrokerOutcome.Unauthenticated, "unauthenticated", verdict.Problem!);
                return;
            }

            var (podNamespace, problem) = await verifier.VerifyAsync(identity, context.RequestAborted);
            if (podNamespace is null)
            {
                KeyBrokerLog.Forbidden(logger, identity.Namespace, identity.PodName, problem!);
                await ErrorAsync(context, StatusCodes.Status403Forbidden, BrokerOutcome.Forbidden, "forbidden", $"pod {identity.Namespace}/{identity.PodName}: {problem}");
                return;
            }

            var credentials = await secrets.ReadAsync(podNamespace, context.RequestAborted);
            metrics.Count(BrokerOutcome.Issued);
            KeyBrokerLog.Issued(logger, identity.Namespace, identity.PodName);
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(response.Body, credentials, KeyBrokerJson.Default.BrokerCredentials, context.RequestAborted);
        }
        catch (BrokerUnavailableException ex)
        {
            KeyBrokerLog.Unavailable(logger, ex.Message, ex.InnerException ?? ex);
            response.Headers.RetryAfter = "5";
            await ErrorAsync(context, StatusCodes.Status503ServiceUnavailable, BrokerOutcome.Unavailable, "unavailable", "the operator could not reach the API server to verify the request; retry");
        }
    }

    /// <summary>The token of <c>Authorization: Bearer &lt;token&gt;</c> (scheme in any case, RFC 9110), or null.</summary>
    internal static string? BearerToken(StringValues header)
    {
        if (header.Count != 1 || header[0] is not { } value || value.Length > MaxTokenLength + 7)
        {
            return null;
        }

        var space = value.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || !value[..space].Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var token = value[(space + 1)..].Trim();
        return token.Length is > 0 and <= MaxTokenLength && !token.Contains(' ', StringComparison.Ordinal) ? token : null;
    }

    /// <summary>Reads at most one byte: a meter sends nothing, and nothing more is read from anyone else.</summary>
    private static async Task<bool> BodyIsEmptyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength is > 0)
        {
            return false;
        }

        var one = new byte[1];
        return await request.Body.ReadAsync(one, cancellationToken) == 0;
    }

    private async Task ErrorAsync(HttpContext context, int status, BrokerOutcome outcome, string type, string message)
    {
        metrics.Count(outcome);
        if (outcome == BrokerOutcome.BadRequest)
        {
            KeyBrokerLog.BadRequest(logger, message);
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, new BrokerError(new BrokerErrorBody(type, message)), KeyBrokerJson.Default.BrokerError, context.RequestAborted);
    }
}
