using k8s.Models;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// The key-custody rules for a pod of a metered namespace, as the webhook applies them to the pod as written (before
/// its patch). The same rules run again at the API server, after every mutation, as the ValidatingAdmissionPolicy of
/// <see cref="AdmissionPolicy"/>; whoever changes one changes the other (the policy tests run both on the same pods).
/// </summary>
/// <remarks>
/// Whoever may create pods in a namespace may mount any Secret in it unless admission says no, so every way a
/// container can reach a Secret's data is covered: secret and projected volumes, <c>secretKeyRef</c>,
/// <c>envFrom</c>, and a mount of a volume the webhook adds for the meter. Reading the Secret through the API is
/// RBAC's business and is not decided here.
/// </remarks>
public static class PodCustody
{
    /// <summary>Volume names with this prefix belong to the meter; a pod may not declare or mount them itself.</summary>
    public const string ReservedPrefix = "tollgate-";

    /// <summary>Longest identity annotation value the webhook passes on to the meter.</summary>
    public const int MaxTagValueLength = 256;

    /// <summary>
    /// What is wrong with <paramref name="pod"/>, one sentence per finding; empty when it keeps custody.
    /// </summary>
    /// <param name="keySecrets">The Secrets that hold provider or routing keys in the pod's namespace.</param>
    /// <param name="meter">The meter container the webhook verified as its own injection, or null: it alone may mount the key volumes.</param>
    public static IReadOnlyList<string> Violations(V1PodSpec spec, IReadOnlySet<string> keySecrets, V1Container? meter)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(keySecrets);
        var problems = new List<string>();

        if (spec.HostNetwork == true)
        {
            problems.Add("hostNetwork: true is not allowed: it would put the meter's ports on the node");
        }

        if (spec.HostPID == true)
        {
            problems.Add("hostPID: true is not allowed: it would let a container read the meter's environment");
        }

        if (spec.ShareProcessNamespace == true)
        {
            problems.Add("shareProcessNamespace: true is not allowed: it would let a container read the meter's environment");
        }

        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var volume in spec.Volumes ?? [])
        {
            var ours = meter is not null && IsReserved(volume.Name);
            if (!ours)
            {
                declared.Add(volume.Name);
                problems.AddRange(VolumeViolations(volume, keySecrets));
            }
        }

        foreach (var (kind, container) in Containers(spec))
        {
            if (ReferenceEquals(container, meter))
            {
                continue;
            }

            problems.AddRange(ContainerViolations(kind, container.Name, container.VolumeMounts, container.VolumeDevices, container.Env, container.EnvFrom, declared, keySecrets));
        }

        foreach (var container in spec.EphemeralContainers ?? [])
        {
            problems.AddRange(ContainerViolations("ephemeral container", container.Name, container.VolumeMounts, container.VolumeDevices, container.Env, container.EnvFrom, declared, keySecrets));
        }

        return problems;
    }

    /// <summary>
    /// The findings for ephemeral containers added to a running pod (the <c>pods/ephemeralcontainers</c>
    /// subresource): they may mount only volumes the pod author declared, and no key Secret.
    /// </summary>
    public static IReadOnlyList<string> EphemeralViolations(V1PodSpec spec, IReadOnlySet<string> keySecrets)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(keySecrets);
        var declared = (spec.Volumes ?? []).Where(v => !IsReserved(v.Name)).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        return [.. (spec.EphemeralContainers ?? []).SelectMany(c =>
            ContainerViolations("ephemeral container", c.Name, c.VolumeMounts, c.VolumeDevices, c.Env, c.EnvFrom, declared, keySecrets))];
    }

    public static bool IsReserved(string? volumeName) => volumeName?.StartsWith(ReservedPrefix, StringComparison.Ordinal) == true;

    private static IEnumerable<(string Kind, V1Container Container)> Containers(V1PodSpec spec) =>
        (spec.InitContainers ?? []).Select(c => ("init container", c)).Concat((spec.Containers ?? []).Select(c => ("container", c)));

    private static IEnumerable<string> VolumeViolations(V1Volume volume, IReadOnlySet<string> keySecrets)
    {
        if (IsReserved(volume.Name))
        {
            yield return $"volume {volume.Name}: names starting with \"{ReservedPrefix}\" are reserved for the meter; rename the volume";
        }

        if (volume.Secret?.SecretName is { } secret && keySecrets.Contains(secret))
        {
            yield return $"volume {volume.Name} mounts Secret {secret}, which holds provider keys that only the meter may read";
        }

        foreach (var source in volume.Projected?.Sources ?? [])
        {
            if (source.Secret?.Name is { } projected && keySecrets.Contains(projected))
            {
                yield return $"volume {volume.Name} projects Secret {projected}, which holds provider keys that only the meter may read";
            }

            // Such a token, bound to this (metered) pod, is what the key broker hands the keys for.
            if (source.ServiceAccountToken?.Audience == SidecarInjector.MeterAudience)
            {
                yield return $"volume {volume.Name} projects a service account token for audience {SidecarInjector.MeterAudience}, which only the meter may hold";
            }
        }
    }

    private static IEnumerable<string> ContainerViolations(
        string kind,
        string name,
        IList<V1VolumeMount>? mounts,
        IList<V1VolumeDevice>? devices,
        IList<V1EnvVar>? env,
        IList<V1EnvFromSource>? envFrom,
        HashSet<string> declared,
        IReadOnlySet<string> keySecrets)
    {
        if (name == SidecarInjector.ContainerName)
        {
            yield return $"{kind} {name}: the name is reserved for the meter the webhook injects; rename the container";
        }

        foreach (var volume in (mounts ?? []).Select(m => m.Name).Concat((devices ?? []).Select(d => d.Name)).Distinct(StringComparer.Ordinal))
        {
            if (IsReserved(volume))
            {
                yield return $"{kind} {name} mounts volume {volume}, which belongs to the meter";
            }
            else if (!declared.Contains(volume))
            {
                yield return $"{kind} {name} mounts volume {volume}, which the pod does not declare";
            }
        }

        foreach (var variable in env ?? [])
        {
            if (variable.ValueFrom?.SecretKeyRef?.Name is { } secret && keySecrets.Contains(secret))
            {
                yield return $"{kind} {name}: env {variable.Name} reads Secret {secret}, which holds provider keys that only the meter may read";
            }
        }

        foreach (var source in envFrom ?? [])
        {
            if (source.SecretRef?.Name is { } secret && keySecrets.Contains(secret))
            {
                yield return $"{kind} {name}: envFrom reads Secret {secret}, which holds provider keys that only the meter may read";
            }
        }
    }
}
