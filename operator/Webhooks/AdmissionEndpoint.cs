using System.Text.Json;
using k8s;
using k8s.Models;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// <c>POST /mutate-pods</c>: reads an <c>admission.k8s.io/v1</c> AdmissionReview and answers with the sidecar patch,
/// or with no patch. It never denies a pod: a failure of the webhook itself is logged and the pod is admitted
/// without the meter, because a webhook bug must not stop every pod in a metered namespace. Whether the API server
/// admits pods when the webhook cannot be reached at all is the deployment's choice, the MutatingWebhookConfiguration's
/// <c>failurePolicy</c>: <c>Ignore</c> keeps CI running through an operator outage, and the pods admitted meanwhile
/// still never see the provider keys, which only the sidecar is given.
/// </summary>
public sealed class AdmissionEndpoint(SidecarInjector injector, INamespaceLookup namespaces, ILogger<AdmissionEndpoint> logger)
{
    public const string Path = "/mutate-pods";

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var cancellationToken = context.RequestAborted;
        AdmissionReview? review;
        try
        {
            review = await JsonSerializer.DeserializeAsync<AdmissionReview>(context.Request.Body, cancellationToken: cancellationToken);
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
        if (!IsPodCreate(request) || request.ObjectJson is not { ValueKind: JsonValueKind.Object } podJson)
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
                WebhookLog.NamespaceUnknown(logger, namespaceName, podName);
                return allow;
            }

            var result = injector.Inject(pod, podNamespace);
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
            return allow;
        }
    }

    private static bool IsPodCreate(AdmissionRequest request) =>
        request.Operation == "CREATE"
        && request.Kind is { Group: null or "", Kind: "Pod" }
        && string.IsNullOrEmpty(request.SubResource);

    // Pods of Jobs and ReplicaSets have only generateName at admission; the name is given after the webhooks ran.
    private static string PodName(V1Pod pod, string requestName) =>
        pod.Metadata?.Name is { Length: > 0 } name ? name
        : requestName.Length > 0 ? requestName
        : (pod.Metadata?.GenerateName ?? string.Empty) + "*";
}
