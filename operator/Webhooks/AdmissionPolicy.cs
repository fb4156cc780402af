using System.Globalization;
using System.Text;
using k8s.Models;

namespace Tollgate.Operator.Webhooks;

/// <summary>One CEL rule of the policy: a name for tests and logs, the expression, and what the pod author is told.</summary>
public sealed record CustodyRule(string Name, string Expression, string Message);

/// <summary>
/// The ValidatingAdmissionPolicy <c>tollgate-key-custody</c> (admissionregistration.k8s.io/v1, Kubernetes 1.30+), its
/// binding and its parameters: <see cref="PodCustody"/>'s rules, evaluated by the API server itself after all
/// mutating webhooks, so a pod the webhook never saw (it was down, deleted or mis-selected) is judged all the same.
/// </summary>
/// <remarks>
/// The policy text is static, so config/admission ships exactly what the operator reconciles; what depends on the
/// operator's configuration (the meter image, its command line, the key Secrets of every routing rule) is in the
/// parameter ConfigMap <see cref="ParamsName"/> in the operator's namespace, which pod authors cannot write.
/// Every expression guards each optional field with <c>has()</c> before reading it: CEL reading an absent field is
/// an error, and errors deny under <c>failurePolicy: Fail</c>.
/// </remarks>
public static class AdmissionPolicy
{
    public const string PolicyName = "tollgate-key-custody";
    public const string BindingName = "tollgate-key-custody";
    public const string ParamsName = "tollgate-admission";

    public const string MeterImageKey = "meterImage";
    public const string MeterArgsKey = "meterArgs";
    public const string ProviderSecretKey = "providerSecret";

    /// <summary>Prefix of the parameter keys that list key Secrets: <c>keySecret.&lt;name&gt;</c>.</summary>
    public const string KeySecretPrefix = "keySecret.";

    private const string Meter = "object.spec.initContainers[0]";

    public static IReadOnlyList<(string Name, string Expression)> Variables { get; } =
    [
        ("initContainers", "has(object.spec.initContainers) ? object.spec.initContainers : []"),
        ("ephemeralContainers", "has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers : []"),
        ("volumes", "has(object.spec.volumes) ? object.spec.volumes : []"),
        ("namespaceLabels", "has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}"),
        ("hasMeter", "size(variables.initContainers) > 0 && variables.initContainers[0].name == 'tollgate-meter'"),
    ];

    public static IReadOnlyList<CustodyRule> Rules { get; } =
    [
        new("Metered",
            "request.operation != 'CREATE' || variables.hasMeter || ('tollgate.io/allow-opt-out' in variables.namespaceLabels && variables.namespaceLabels['tollgate.io/allow-opt-out'] == 'true')",
            "a pod in a metered namespace must run with the tollgate-meter sidecar that Tollgate's webhook injects: the webhook did not run (retry when the operator is up) or the pod opted out with tollgate.io/inject, which this namespace does not allow"),
        new("MeterUnique",
            "size(variables.initContainers.filter(c, c.name == 'tollgate-meter')) + size(object.spec.containers.filter(c, c.name == 'tollgate-meter')) + size(variables.ephemeralContainers.filter(c, c.name == 'tollgate-meter')) == (variables.hasMeter ? 1 : 0)",
            "the container name tollgate-meter is reserved for the meter that Tollgate's webhook injects as the first init container; rename the container"),
        new("MeterProcess",
            $"!variables.hasMeter || ({Meter}.image == params.data.{MeterImageKey} && !has({Meter}.command) && !has({Meter}.workingDir) && !has({Meter}.lifecycle)"
            + $" && has({Meter}.restartPolicy) && {Meter}.restartPolicy == 'Always'"
            + $" && (!has({Meter}.startupProbe) || !has({Meter}.startupProbe.exec)) && (!has({Meter}.readinessProbe) || !has({Meter}.readinessProbe.exec)) && (!has({Meter}.livenessProbe) || !has({Meter}.livenessProbe.exec))"
            + $" && has({Meter}.securityContext) && has({Meter}.securityContext.runAsNonRoot) && {Meter}.securityContext.runAsNonRoot && (!has({Meter}.securityContext.privileged) || !{Meter}.securityContext.privileged))",
            "the tollgate-meter container must run the configured meter image as injected: no command, working directory, lifecycle hook or exec probe of its own, non-root"),
        new("MeterArgs",
            // The pattern pins "--namespace" to its one place (no other argument line can be that word), so the line after it is this namespace.
            $"!variables.hasMeter || (has({Meter}.args) && {Meter}.args.join('\\n').matches(params.data.{MeterArgsKey})"
            + $" && ({Meter}.args.join('\\n') + '\\n').contains('\\n--namespace\\n' + namespaceObject.metadata.name + '\\n')"
            + $" && size({Meter}.args.filter(a, a == '--namespace-label')) == size(variables.namespaceLabels)"
            + $" && variables.namespaceLabels.all(k, (k + '=' + variables.namespaceLabels[k]) in {Meter}.args))",
            "the tollgate-meter container's arguments must be the ones the webhook injects for this namespace"),
        new("MeterEnv",
            $"!variables.hasMeter || (!has({Meter}.envFrom) && (!has({Meter}.env) || {Meter}.env.all(e,"
            + " (e.name in ['TOLLGATE_ANTHROPIC_API_KEY', 'TOLLGATE_OPENAI_API_KEY'] && has(e.valueFrom) && has(e.valueFrom.secretKeyRef) && e.valueFrom.secretKeyRef.name == params.data." + ProviderSecretKey + ")"
            + " || (e.name.startsWith('TOLLGATE_TAG_') && has(e.valueFrom) && has(e.valueFrom.fieldRef)))))",
            "the tollgate-meter container may have only the environment the webhook injects"),
        new("MeterMounts",
            $"!variables.hasMeter || (!has({Meter}.volumeDevices) && (!has({Meter}.volumeMounts) || {Meter}.volumeMounts.all(m, m.name.startsWith('tollgate-'))))",
            "the tollgate-meter container may mount only its own tollgate- volumes"),
        new("MeterVolumes",
            "variables.initContainers.all(c, c.name == 'tollgate-meter' || ((!has(c.volumeMounts) || c.volumeMounts.all(m, !m.name.startsWith('tollgate-'))) && (!has(c.volumeDevices) || c.volumeDevices.all(d, !d.name.startsWith('tollgate-')))))"
            + " && object.spec.containers.all(c, (!has(c.volumeMounts) || c.volumeMounts.all(m, !m.name.startsWith('tollgate-'))) && (!has(c.volumeDevices) || c.volumeDevices.all(d, !d.name.startsWith('tollgate-'))))"
            + " && variables.ephemeralContainers.all(c, (!has(c.volumeMounts) || c.volumeMounts.all(m, !m.name.startsWith('tollgate-'))) && (!has(c.volumeDevices) || c.volumeDevices.all(d, !d.name.startsWith('tollgate-'))))",
            "only the tollgate-meter container may mount volumes named tollgate-; they hold the provider keys, the meter's policy and its spool"),
        new("MeterVolumeSources",
            "variables.volumes.all(v, !v.name.startsWith('tollgate-') || (variables.hasMeter && (has(v.secret) || has(v.configMap) || has(v.emptyDir) || (v.name == '" + SidecarInjector.IdentityVolume + "' && has(v.projected)))))",
            "volume names starting with tollgate- are reserved for the meter's volumes; rename the volume"),
        new("MeterToken",
            "variables.volumes.all(v, v.name == '" + SidecarInjector.IdentityVolume + "' || !has(v.projected) || !has(v.projected.sources)"
            + " || v.projected.sources.all(s, !has(s.serviceAccountToken) || !has(s.serviceAccountToken.audience) || s.serviceAccountToken.audience != '" + SidecarInjector.MeterAudience + "'))",
            "a volume of this pod projects a service account token for audience " + SidecarInjector.MeterAudience + ", which only the tollgate-meter container may hold (in its volume " + SidecarInjector.IdentityVolume + "); remove it"),
        new("KeyVolumes",
            "variables.volumes.all(v, (!has(v.secret) || !has(v.secret.secretName) || !((('" + KeySecretPrefix + "') + v.secret.secretName) in params.data) || v.name.startsWith('tollgate-'))"
            + " && (!has(v.projected) || !has(v.projected.sources) || v.projected.sources.all(s, !has(s.secret) || !has(s.secret.name) || !((('" + KeySecretPrefix + "') + s.secret.name) in params.data))))",
            "a volume of this pod mounts a Secret that holds provider keys, which only the tollgate-meter container may read; remove it and call models through ANTHROPIC_BASE_URL/OPENAI_BASE_URL"),
        new("KeyEnv",
            "variables.initContainers.all(c, c.name == 'tollgate-meter' || ("
            + KeyEnvOf("c") + "))"
            + " && object.spec.containers.all(c, " + KeyEnvOf("c") + ")"
            + " && variables.ephemeralContainers.all(c, " + KeyEnvOf("c") + ")",
            "a container of this pod reads a Secret that holds provider keys (secretKeyRef or envFrom), which only the tollgate-meter container may read; remove it and call models through ANTHROPIC_BASE_URL/OPENAI_BASE_URL"),
        new("HostNamespaces",
            "!(has(object.spec.hostNetwork) && object.spec.hostNetwork) && !(has(object.spec.hostPID) && object.spec.hostPID) && !(has(object.spec.shareProcessNamespace) && object.spec.shareProcessNamespace)",
            "hostNetwork, hostPID and shareProcessNamespace are not allowed in a metered namespace: they would expose the meter's ports or environment"),
    ];

    private static string KeyEnvOf(string c) =>
        $"(!has({c}.env) || {c}.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef) || !(('{KeySecretPrefix}' + e.valueFrom.secretKeyRef.name) in params.data)))"
        + $" && (!has({c}.envFrom) || {c}.envFrom.all(f, !has(f.secretRef) || !(('{KeySecretPrefix}' + f.secretRef.name) in params.data)))";

    public static V1ValidatingAdmissionPolicy Policy() => new()
    {
        ApiVersion = "admissionregistration.k8s.io/v1",
        Kind = "ValidatingAdmissionPolicy",
        Metadata = new V1ObjectMeta { Name = PolicyName, Labels = Labels() },
        Spec = new V1ValidatingAdmissionPolicySpec
        {
            // An expression error or missing parameters deny: the pod is retried rather than admitted unchecked.
            FailurePolicy = "Fail",
            ParamKind = new V1ParamKind { ApiVersion = "v1", Kind = "ConfigMap" },
            MatchConstraints = new V1MatchResources
            {
                ResourceRules =
                [
                    new V1NamedRuleWithOperations
                    {
                        ApiGroups = [""],
                        ApiVersions = ["v1"],
                        Operations = ["CREATE", "UPDATE"],
                        Resources = ["pods", "pods/ephemeralcontainers"],
                        Scope = "Namespaced",
                    },
                ],
            },
            Variables = [.. Variables.Select(v => new V1Variable { Name = v.Name, Expression = v.Expression })],
            Validations = [.. Rules.Select(r => new V1Validation { Expression = r.Expression, Message = r.Message, Reason = "Forbidden" })],
        },
    };

    public static V1ValidatingAdmissionPolicyBinding Binding(string operatorNamespace) => new()
    {
        ApiVersion = "admissionregistration.k8s.io/v1",
        Kind = "ValidatingAdmissionPolicyBinding",
        Metadata = new V1ObjectMeta { Name = BindingName, Labels = Labels() },
        Spec = new V1ValidatingAdmissionPolicyBindingSpec
        {
            PolicyName = PolicyName,
            ValidationActions = ["Deny"],
            ParamRef = new V1ParamRef { Name = ParamsName, NamespaceProperty = operatorNamespace, ParameterNotFoundAction = "Deny" },
            MatchResources = new V1MatchResources
            {
                // The same namespaces the webhook serves.
                NamespaceSelector = new V1LabelSelector
                {
                    MatchLabels = new Dictionary<string, string> { [NamespaceInfo.MeterLabel] = NamespaceInfo.MeterEnabled },
                    MatchExpressions =
                    [
                        new V1LabelSelectorRequirement { Key = "kubernetes.io/metadata.name", OperatorProperty = "NotIn", Values = [operatorNamespace, "kube-system"] },
                    ],
                },
            },
        },
    };

    /// <summary>The parameters: the meter as the webhook injects it, and every Secret that holds keys.</summary>
    /// <param name="routeSecrets">The key Secrets of all routing rules, in any namespace: one list serves every metered namespace.</param>
    public static V1ConfigMap Parameters(SidecarOptions options, IEnumerable<string> routeSecrets, string operatorNamespace)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(routeSecrets);
        var data = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [MeterImageKey] = options.Image,
            [MeterArgsKey] = MeterArgsPattern(options),
            [ProviderSecretKey] = options.ProviderSecretName,
        };
        foreach (var secret in routeSecrets.Append(options.ProviderSecretName))
        {
            data[KeySecretPrefix + secret] = string.Empty;
        }

        return new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta { Name = ParamsName, NamespaceProperty = operatorNamespace, Labels = Labels() },
            Data = new Dictionary<string, string>(data, StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// A regular expression (RE2 and .NET agree on the subset used) for the meter's arguments joined by newlines:
    /// the fixed ones exactly as the injector writes them, then any namespace labels and identity tags (each pinned
    /// further by the rule itself), then the configured extra arguments exactly.
    /// </summary>
    public static string MeterArgsPattern(SidecarOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var injector = new SidecarInjector(Microsoft.Extensions.Options.Options.Create(options));
        var probe = injector.Sidecar(new V1Pod { Metadata = new V1ObjectMeta(), Spec = new V1PodSpec() }, new NamespaceInfo("n", new Dictionary<string, string>()));
        var args = probe.Args;
        var fixedCount = args.IndexOf("--namespace");
        var pattern = new StringBuilder("^");
        pattern.Append(string.Join(@"\n", args.Take(fixedCount).Select(Literal)));
        pattern.Append(@"\n--namespace\n[a-z0-9]([-a-z0-9]*[a-z0-9])?");
        pattern.Append(@"(\n--namespace-label\n[A-Za-z0-9][-A-Za-z0-9_./]*=[-A-Za-z0-9_.]*)*");
        pattern.Append(@"(\n--tag\n[-A-Za-z0-9_.]+=\$\(TOLLGATE_TAG_[A-Z0-9_]+\))*");
        foreach (var extra in options.ExtraArgs)
        {
            pattern.Append(@"\n").Append(Literal(extra));
        }

        return pattern.Append(@"\z").ToString();
    }

    // Only these are special in either engine outside a character class; a backslash before punctuation is a literal in both.
    private static string Literal(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (@"\.+*?()|[]{}^$".Contains(c, StringComparison.Ordinal))
            {
                escaped.Append('\\');
            }

            escaped.Append(c == '\n' ? @"\n" : c.ToString(CultureInfo.InvariantCulture));
        }

        return escaped.ToString();
    }

    private static Dictionary<string, string> Labels() => new() { ["app.kubernetes.io/name"] = "tollgate-operator", ["app.kubernetes.io/component"] = "admission" };
}
