using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Publishes the operator's CA (the trust bundle of Secret <c>tollgate-webhook-tls</c>: the CA that signs the webhook
/// and key broker certificate, and the ledger's, plus its still valid predecessors) as ConfigMap <c>tollgate-ca</c>
/// (key <c>ca.crt</c>) in every metered namespace and in the operator's own, where the injected meter's projected
/// volume reads it. Written only when the PEM differs; deleted (only ours) when a namespace stops being metered.
/// </summary>
/// <remarks>
/// A renewal can happen on any replica (<see cref="WebhookCertificateStore"/>); this replica hears of it when its own
/// rotator loads the new certificate (<see cref="Republish"/>) and, at the latest, from the periodic pass over the
/// operator namespace's copy, which re-reads the Secret and re-queues every namespace when the bundle changed. The
/// bundle keeps the previous CA, so a meter whose copy is a little behind still trusts replicas that did not renew yet.
/// </remarks>
internal sealed class CaConfigMapController(
    IKubernetes client,
    Informer<V1Namespace> namespaces,
    string operatorNamespace,
    string tlsSecretName,
    string configMapName,
    TimeSpan resyncInterval,
    ILogger logger) : IReconciler
{
    public const string DataKey = "ca.crt";

    private WorkQueue? _queue;

    public string Kind => "CaConfigMap";

    public void Watch(WorkQueue queue)
    {
        _queue = queue;
        namespaces.OnChange(change => queue.Add((change.Current ?? change.Previous)!.Metadata.Name));
    }

    /// <summary>Queues every namespace that should carry the CA: the certificate this replica serves changed.</summary>
    public void Republish()
    {
        if (_queue is null)
        {
            return;
        }

        _queue.Add(operatorNamespace);
        foreach (var ns in namespaces.List().Where(NamespacePolicyController.IsMetered))
        {
            _queue.Add(ns.Metadata.Name);
        }
    }

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var ns = namespaces.Get(key);
        var isOperatorNamespace = key == operatorNamespace;
        var existing = await ReadAsync(key, cancellationToken);
        if (ns is null || ns.Metadata.DeletionTimestamp is not null || !(isOperatorNamespace || NamespacePolicyController.IsMetered(ns)))
        {
            if (existing?.Metadata.Labels?.TryGetValue(NamespacePolicyController.ManagedByLabel, out var owner) == true && owner == NamespacePolicyController.ManagedBy
                && ns is not null && ns.Metadata.DeletionTimestamp is null)
            {
                await DeleteAsync(key, cancellationToken);
                OperatorLog.CaDeleted(logger, key, configMapName);
            }

            return ReconcileResult.Done;
        }

        var ca = await ReadCaAsync(cancellationToken);
        if (ca is null)
        {
            // The rotator issues it within seconds of the first start; until then there is nothing to publish.
            return ReconcileResult.Failure($"Secret {operatorNamespace}/{tlsSecretName} has no CA yet");
        }

        var requeue = isOperatorNamespace ? resyncInterval : (TimeSpan?)null;
        if (existing?.Data?.TryGetValue(DataKey, out var current) == true && current == ca)
        {
            return ReconcileResult.Success(requeue);
        }

        if (existing is null)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(Desired(key, ca, null), key, cancellationToken: cancellationToken);
        }
        else
        {
            // Carries the read resourceVersion: a concurrent change makes this a 409 and a retry with a fresh read.
            await client.CoreV1.ReplaceNamespacedConfigMapAsync(Desired(key, ca, existing), configMapName, key, cancellationToken: cancellationToken);
        }

        OperatorLog.CaPublished(logger, key, configMapName);
        if (isOperatorNamespace && existing is not null)
        {
            // The bundle changed (a renewal elsewhere): every metered namespace's copy is stale too.
            Republish();
        }

        return ReconcileResult.Success(requeue);
    }

    private async Task<string?> ReadCaAsync(CancellationToken cancellationToken)
    {
        V1Secret secret;
        try
        {
            secret = await client.CoreV1.ReadNamespacedSecretAsync(tlsSecretName, operatorNamespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var data = secret.Data;
        return data is not null && (data.TryGetValue(ServingCertificate.CaBundleKey, out var bundle) || data.TryGetValue(ServingCertificate.CaKey, out bundle))
            ? Encoding.ASCII.GetString(bundle)
            : null;
    }

    private V1ConfigMap Desired(string ns, string ca, V1ConfigMap? existing) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = new V1ObjectMeta
        {
            Name = configMapName,
            NamespaceProperty = ns,
            Labels = new Dictionary<string, string>(existing?.Metadata.Labels ?? new Dictionary<string, string>())
            {
                [NamespacePolicyController.ManagedByLabel] = NamespacePolicyController.ManagedBy,
            },
            Annotations = existing?.Metadata.Annotations,
            ResourceVersion = existing?.Metadata.ResourceVersion,
        },
        Data = new Dictionary<string, string> { [DataKey] = ca },
    };

    private Task<V1ConfigMap?> ReadAsync(string ns, CancellationToken cancellationToken) =>
        NotFound.AsNullAsync(() => client.CoreV1.ReadNamespacedConfigMapAsync(configMapName, ns, cancellationToken: cancellationToken));

    private Task DeleteAsync(string ns, CancellationToken cancellationToken) =>
        NotFound.IgnoredAsync(() => client.CoreV1.DeleteNamespacedConfigMapAsync(configMapName, ns, cancellationToken: cancellationToken));
}
