using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Tollgate.Operator.LedgerWiring;

/// <summary>
/// Makes the Redis StatefulSet load a changed ACL file or certificate by writing its checksum into the pod template's
/// annotations: the template changes, so the StatefulSet controller replaces the pod, and Redis starts from the AOF with
/// the new files. The alternatives need more privilege: <c>ACL LOAD</c> and <c>CONFIG SET tls-cert-file</c> would give the
/// operator a Redis admin user (CONFIG SET can rewrite Redis' own files), and they race the kubelet, which brings a
/// changed Secret into the volume up to a minute later; a new pod mounts the current Secret. The cost is a restart of a
/// few seconds when a password is rotated or the certificate renewed (yearly), which meters ride out by their budgets'
/// failure policies and spools.
/// </summary>
internal sealed class RedisRestarter(IKubernetes client, string @namespace, string statefulSet)
{
    /// <returns>
    /// True when the annotation was patched; false when it already held <paramref name="value"/> or there is no such
    /// StatefulSet (the ledger is a Redis deployed some other way: nothing to restart).
    /// </returns>
    public async Task<bool> EnsureAsync(string annotation, string value, CancellationToken cancellationToken)
    {
        V1StatefulSet current;
        try
        {
            current = await client.AppsV1.ReadNamespacedStatefulSetAsync(statefulSet, @namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        if (current.Spec?.Template?.Metadata?.Annotations?.TryGetValue(annotation, out var existing) == true && existing == value)
        {
            return false;
        }

        // A merge patch of one annotation: nothing else of the template is touched, so an apply of config/default (which
        // does not know the annotation) and this patch do not undo each other.
        var patch = new { spec = new { template = new { metadata = new { annotations = new Dictionary<string, string> { [annotation] = value } } } } };
        await client.AppsV1.PatchNamespacedStatefulSetAsync(
            new V1Patch(patch, V1Patch.PatchType.MergePatch), statefulSet, @namespace, cancellationToken: cancellationToken);
        return true;
    }
}
