using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// Writes the webhook's CA bundle into every webhook of a MutatingWebhookConfiguration, so that the API server
/// trusts the self-issued serving certificate. Patches only what differs, so replicas that all run this agree
/// without churn.
/// </summary>
public sealed class CaBundlePatcher(IKubernetes client, ILogger<CaBundlePatcher> logger)
{
    /// <returns>True when the configuration was patched, false when every webhook already had the bundle.</returns>
    public async Task<bool> PatchAsync(string configurationName, string caBundlePem, CancellationToken cancellationToken)
    {
        var configuration = await client.AdmissionregistrationV1.ReadMutatingWebhookConfigurationAsync(configurationName, cancellationToken: cancellationToken);
        var patch = BuildPatch(configuration, caBundlePem);
        if (patch is null)
        {
            return false;
        }

        var body = JsonNode.Parse(patch.ToUtf8Bytes());
        await client.AdmissionregistrationV1.PatchMutatingWebhookConfigurationAsync(
            new V1Patch(body, V1Patch.PatchType.JsonPatch), configurationName, cancellationToken: cancellationToken);
        WebhookLog.CaBundlePatched(logger, configurationName, patch.Operations.Count(o => o.Op == "add"));
        return true;
    }

    /// <summary>
    /// The JSON patch that sets <c>clientConfig.caBundle</c> (base64 of the PEM, as the API serves the bytes) on each
    /// webhook that lacks it, or null when none does. It starts with a <c>test</c> of the resourceVersion: the
    /// webhooks are addressed by index, and a concurrent edit that reorders them must fail the patch, not misplace it.
    /// </summary>
    public static JsonPatch? BuildPatch(V1MutatingWebhookConfiguration configuration, string caBundlePem)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrEmpty(caBundlePem);
        var bundle = Encoding.ASCII.GetBytes(caBundlePem);
        var operations = new List<JsonPatchOperation>();
        if (configuration.Metadata?.ResourceVersion is { Length: > 0 } resourceVersion)
        {
            operations.Add(JsonPatchOperation.Test(JsonPointer.Of("metadata", "resourceVersion"), resourceVersion));
        }

        var webhooks = configuration.Webhooks ?? [];
        for (var i = 0; i < webhooks.Count; i++)
        {
            var clientConfig = webhooks[i].ClientConfig;
            if (clientConfig is null)
            {
                operations.Add(JsonPatchOperation.Add(JsonPointer.Of("webhooks", i, "clientConfig"), new JsonObject { ["caBundle"] = Convert.ToBase64String(bundle) }));
            }
            else if (clientConfig.CaBundle is null || !clientConfig.CaBundle.AsSpan().SequenceEqual(bundle))
            {
                operations.Add(JsonPatchOperation.Add(JsonPointer.Of("webhooks", i, "clientConfig", "caBundle"), Convert.ToBase64String(bundle)));
            }
        }

        return operations.Any(o => o.Op == "add") ? new JsonPatch(operations) : null;
    }
}
