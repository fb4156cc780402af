using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.KeyBroker;

/// <summary>
/// Whether the pod a token was bound to may have the keys: its namespace is metered, it still exists as that pod (same
/// uid, not terminating), runs as the token's service account, and carries the meter exactly as the webhook injects
/// it (<see cref="SidecarInjector.Inject"/> says <see cref="InjectionOutcome.AlreadyInjected"/>), which also means no
/// other container of it may reach the meter's token (see <see cref="PodCustody"/>).
/// </summary>
public sealed class MeterPodVerifier(IKubernetes client, INamespaceLookup namespaces, SidecarInjector injector, IOptions<KeyBrokerOptions> options)
{
    /// <returns>The pod's namespace, or the reason it gets nothing.</returns>
    /// <exception cref="BrokerUnavailableException">The pod could not be read.</exception>
    public async Task<(NamespaceInfo? Namespace, string? Problem)> VerifyAsync(MeterIdentity identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        var podNamespace = await namespaces.FindAsync(identity.Namespace, cancellationToken);
        if (podNamespace is not { IsMetered: true })
        {
            return (null, $"namespace {identity.Namespace} is not metered ({NamespaceInfo.MeterLabel}={NamespaceInfo.MeterEnabled})");
        }

        var pod = await BrokerApi.FindAsync(
            "read the pod",
            options.Value.ApiTimeout,
            ct => client.CoreV1.ReadNamespacedPodAsync(identity.PodName, identity.Namespace, cancellationToken: ct),
            cancellationToken);
        if (pod is null)
        {
            return (null, "the pod does not exist");
        }

        if (pod.Metadata.Uid != identity.PodUid)
        {
            return (null, "the pod was recreated since the token was issued (uid differs)");
        }

        if (pod.Metadata.DeletionTimestamp is not null)
        {
            return (null, "the pod is terminating");
        }

        var serviceAccount = pod.Spec?.ServiceAccountName is { Length: > 0 } name ? name : "default";
        if (serviceAccount != identity.ServiceAccount)
        {
            return (null, $"the pod runs as service account {serviceAccount}, the token is {identity.ServiceAccount}'s");
        }

        if (pod.Spec is null)
        {
            return (null, "the pod has no spec");
        }

        var result = injector.Inject(pod, podNamespace);
        return result.Outcome switch
        {
            InjectionOutcome.AlreadyInjected => (podNamespace, null),
            InjectionOutcome.OptedOut => (null, $"the pod opted out of the meter ({SidecarInjector.InjectAnnotation})"),
            InjectionOutcome.Denied => (null, "the pod breaks key custody: " + string.Join("; ", result.Violations)),
            _ => (null, "the pod does not carry the meter as Tollgate's webhook injects it"),
        };
    }
}
