using System.Text.Json;
using k8s;
using k8s.Models;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// <c>POST /mutate-pods</c>: reads an <c>admission.k8s.io/v1</c> AdmissionReview and answers with the sidecar patch,
/// with no patch, or with a denial that says what to change. The webhook is registered with
/// <c>failurePolicy: Fail</c> for metered namespaces (config/webhook), and it fails closed itself too: a pod it cannot
/// decide on is denied, so a Job retries it, rather than run unmetered. Custody rules: <see cref="PodCustody"/>.
/// </summary>
public sealed class AdmissionEndpoint(SidecarInjector injector, INamespaceLookup namespaces, ILogger<AdmissionEndpoint> logger)
{
    public const string Path = "/mutate-pods";

    /// <summary>
    /// The largest AdmissionReview read. A pod is at most what etcd stores (1.5 MiB by default) and a review carries
    /// it once for CREATE and twice (object, oldObject) for an ephemeral-container UPDATE; anything larger did not
    /// come from an API server.
    /// </summary>
    public const long MaxReviewBytes = 4 * 1024 * 1024;

    public const string EphemeralContainersSubresource = "ephemeralcontainers";

    private const string WhatToDo = "Tollgate meters model calls in this namespace and keeps the provider keys in its meter sidecar; "
        + "job containers call models through ANTHROPIC_BASE_URL/OPENAI_BASE_URL, which the meter sets. "
        + "See \"What a pod author can and cannot do in a metered namespace\" in Tollgate's README.";

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var cancellationToken = context.RequestAborted;
        var body = await ReadBoundedAsync(context.Request, cancellationToken);
        if (body is null)
        {
            WebhookLog.ReviewTooLarge(logger, MaxReviewBytes);
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync($"an AdmissionReview is at most {MaxReviewBytes} bytes\n", cancellationToken);
            return;
        }

        AdmissionReview? review;
        try
        {
            review = JsonSerializer.Deserialize<AdmissionReview>(body);
        }
        catch (JsonException ex)
        {
            review = null;
            WebhookLog.BadReview(logger, ex.Message);
        }

        // Without a request uid there is nothing the API server could match an answer to.
        if (review?.Request is not { Uid.Length: > 0 } request)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync("expected an admission.k8s.io/v1 AdmissionReview with request.uid\n", cancellationToken);
            return;
        }

        var response = await ReviewAsync(request, cancellationToken);
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(
            context.Response.Body,
            new AdmissionReview { ApiVersion = review.ApiVersion, Kind = review.Kind, Response = response },
            cancellationToken: cancellationToken);
    }

    public async Task<AdmissionResponse> ReviewAsync(AdmissionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var allow = new AdmissionResponse { Uid = request.Uid, Allowed = true };
        var kind = Classify(request);
        if (kind == RequestKind.Other || request.ObjectJson is not { ValueKind: JsonValueKind.Object } podJson)
        {
            return allow;
        }

        var namespaceName = request.Namespace ?? string.Empty;
        var podName = request.Name ?? string.Empty;
        try
        {
            var pod = KubernetesJson.Deserialize<V1Pod>(podJson.GetRawText());
            podName = PodName(pod, podName);
            if (namespaceName.Length == 0)
            {
                namespaceName = pod.Metadata?.NamespaceProperty ?? string.Empty;
            }

            var podNamespace = await namespaces.FindAsync(namespaceName, cancellationToken);
            if (podNamespace is null)
            {
                // The API server calls only for namespaces labelled metered, so this is a namespace the cache has not
                // seen yet; the ValidatingAdmissionPolicy would refuse the unmetered pod anyway.
                WebhookLog.NamespaceUnknown(logger, namespaceName, podName);
                return Deny(request, [$"Tollgate has not seen namespace {namespaceName} yet; retry in a few seconds"]);
            }

            if (kind == RequestKind.EphemeralContainers)
            {
                var found = podNamespace.IsMetered && pod.Spec is not null
                    ? PodCustody.EphemeralViolations(pod.Spec, injector.KeySecrets(podNamespace))
                    : [];
                return found.Count == 0 ? allow : Denied(request, namespaceName, podName, found);
            }

            var result = injector.Inject(pod, podNamespace);
            if (result.Outcome == InjectionOutcome.Denied)
            {
                return Denied(request, namespaceName, podName, result.Violations);
            }

            if (result.Patch is null)
            {
                WebhookLog.Skipped(logger, namespaceName, podName, result.Outcome);
                return allow;
            }

            WebhookLog.Injected(logger, namespaceName, podName);
            return allow with { PatchType = AdmissionResponse.JsonPatchType, Patch = result.Patch.ToUtf8Bytes() };
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            WebhookLog.InjectionFailed(logger, namespaceName, podName, ex);
            return Deny(request, ["the Tollgate webhook could not decide on this pod (see the operator's log); retry"]);
        }
    }

    private AdmissionResponse Denied(AdmissionRequest request, string namespaceName, string podName, IReadOnlyList<string> violations)
    {
        WebhookLog.Denied(logger, namespaceName, podName, string.Join("; ", violations));
        return Deny(request, violations);
    }

    private static AdmissionResponse Deny(AdmissionRequest request, IReadOnlyList<string> violations) => new()
    {
        Uid = request.Uid,
        Allowed = false,
        Status = new AdmissionStatus(StatusCodes.Status403Forbidden, "Forbidden", $"{string.Join("; ", violations)}. {WhatToDo}"),
    };

    private enum RequestKind
    {
        Other,
        PodCreate,
        EphemeralContainers,
    }

    private static RequestKind Classify(AdmissionRequest request) =>
        request.Kind is not { Group: null or "", Kind: "Pod" } ? RequestKind.Other
        : request.Operation == "CREATE" && string.IsNullOrEmpty(request.SubResource) ? RequestKind.PodCreate
        : request.Operation == "UPDATE" && request.SubResource == EphemeralContainersSubresource ? RequestKind.EphemeralContainers
        : RequestKind.Other;

    /// <summary>The body, or null when it is longer than <see cref="MaxReviewBytes"/> (whatever Content-Length claimed).</summary>
    private static async Task<byte[]?> ReadBoundedAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxReviewBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxReviewBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    // Pods of Jobs and ReplicaSets have only generateName at admission; the name is given after the webhooks ran.
    private static string PodName(V1Pod pod, string requestName) =>
        pod.Metadata?.Name is { Length: > 0 } name ? name
        : requestName.Length > 0 ? requestName
        : (pod.Metadata?.GenerateName ?? string.Empty) + "*";
}
