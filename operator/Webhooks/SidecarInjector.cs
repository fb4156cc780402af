using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace Tollgate.Operator.Webhooks;

public enum InjectionOutcome
{
    Injected,
    NamespaceNotMetered,
    OptedOut,
    AlreadyInjected,
    Denied,
}

/// <summary>
/// What the webhook decided for a pod; <see cref="Patch"/> is set only for <see cref="InjectionOutcome.Injected"/>,
/// <see cref="Violations"/> only for <see cref="InjectionOutcome.Denied"/>.
/// </summary>
public sealed record InjectionResult(InjectionOutcome Outcome, JsonPatch? Patch)
{
    public IReadOnlyList<string> Violations { get; init; } = [];

    public static InjectionResult Deny(IReadOnlyList<string> violations) => new(InjectionOutcome.Denied, null) { Violations = violations };
}

/// <summary>
/// Decides whether a pod gets the meter and builds the RFC 6902 patch that adds it. Pure: no I/O, so the
/// admission endpoint stays a thin shell and every decision here is testable on plain pod manifests.
/// </summary>
public sealed class SidecarInjector(IOptions<SidecarOptions> options)
{
    public const string ContainerName = "tollgate-meter";
    public const string InjectAnnotation = "tollgate.io/inject";
    public const string InjectedAnnotation = "tollgate.io/injected";
    public const string KeepBaseUrlsAnnotation = "tollgate.io/keep-base-urls";

    public const string PolicyVolume = "tollgate-policy";
    public const string ProviderKeysVolume = "tollgate-provider-keys";
    public const string SpoolVolume = "tollgate-spool";
    public const string TmpVolume = "tollgate-tmp";

    /// <summary>Broker mode: the meter's pod-bound token for the key broker and the CA that signs the broker's certificate.</summary>
    public const string IdentityVolume = "tollgate-meter-identity";
    public const string IdentityPath = "/var/run/secrets/tollgate.io/meter";

    /// <summary>The audience of the meter's token; the broker reviews tokens for it and for nothing else.</summary>
    public const string MeterAudience = "tollgate.io/meter";

    /// <summary>The kubelet renews a projected token at 80 % of its life; ten minutes is the API server's minimum.</summary>
    public const long IdentityTokenSeconds = 600;

    public const string PolicyPath = "/etc/tollgate/policy";
    public const string SecretsPath = "/etc/tollgate/secrets";
    public const string SpoolPath = "/var/lib/tollgate";

    public const string AnthropicBaseUrlVariable = "ANTHROPIC_BASE_URL";
    public const string OpenAiBaseUrlVariable = "OPENAI_BASE_URL";

    private readonly SidecarOptions _options = options.Value;

    public InjectionResult Inject(V1Pod pod, NamespaceInfo podNamespace)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(podNamespace);
        var spec = pod.Spec ?? throw new ArgumentException("The pod has no spec.", nameof(pod));
        var annotations = pod.Metadata?.Annotations;

        if (!podNamespace.IsMetered)
        {
            return new(InjectionOutcome.NamespaceNotMetered, null);
        }

        var problems = new List<string>();
        var meter = VerifiedMeter(pod, podNamespace, problems);
        problems.AddRange(PodCustody.Violations(spec, KeySecrets(podNamespace), meter));
        problems.AddRange(TagValueViolations(pod));

        // Any case and surrounding space: "False" and " false" must not be read as "inject" by one reader and as
        // "opt out" by another.
        var inject = annotations?.TryGetValue(InjectAnnotation, out var value) == true ? value : null;
        var optOut = string.Equals(inject?.Trim(), "false", StringComparison.OrdinalIgnoreCase);
        if (optOut && meter is null && !podNamespace.AllowsOptOut)
        {
            problems.Add($"annotation {InjectAnnotation}: \"{inject}\" opts out of the meter, which namespace {podNamespace.Name} does not allow "
                + $"(a cluster admin may label it {NamespaceInfo.AllowOptOutLabel}=true; opted-out pods get no provider keys)");
        }

        if (problems.Count > 0)
        {
            return InjectionResult.Deny(problems);
        }

        if (meter is not null)
        {
            return new(InjectionOutcome.AlreadyInjected, null);
        }

        return optOut ? new(InjectionOutcome.OptedOut, null) : new(InjectionOutcome.Injected, Patch(pod, podNamespace));
    }

    /// <summary>
    /// The patch that adds the meter, without any of the checks of <see cref="Inject"/>: what the webhook did before
    /// it checked custody, kept separate so tests can show what the admission policy does with such a pod.
    /// </summary>
    internal JsonPatch Patch(V1Pod pod, NamespaceInfo podNamespace)
    {
        var spec = pod.Spec;
        var annotations = pod.Metadata?.Annotations;
        var keepBaseUrls = annotations is not null && annotations.TryGetValue(KeepBaseUrlsAnnotation, out var keep) && string.Equals(keep, "true", StringComparison.OrdinalIgnoreCase);
        var operations = new List<JsonPatchOperation>();

        // Environment first, at the original indexes: the sidecar is inserted at the front of the init containers
        // afterwards, which shifts them.
        var baseUrls = new[]
        {
            new V1EnvVar { Name = AnthropicBaseUrlVariable, Value = $"http://127.0.0.1:{_options.ProxyPort.ToString(CultureInfo.InvariantCulture)}" },
            new V1EnvVar { Name = OpenAiBaseUrlVariable, Value = $"http://127.0.0.1:{_options.ProxyPort.ToString(CultureInfo.InvariantCulture)}/v1" },
        };
        AddBaseUrls(operations, "containers", spec.Containers ?? [], baseUrls, keepBaseUrls);
        AddBaseUrls(operations, "initContainers", spec.InitContainers ?? [], baseUrls, keepBaseUrls);

        var volumes = Volumes(podNamespace);
        if (spec.Volumes is null or { Count: 0 })
        {
            operations.Add(JsonPatchOperation.Add(JsonPointer.Of("spec", "volumes"), new JsonArray([.. volumes.Select(ToNode)])));
        }
        else
        {
            operations.AddRange(volumes.Select(v => JsonPatchOperation.Add(JsonPointer.Of("spec", "volumes", "-"), ToNode(v))));
        }

        // First among the init containers: native sidecars start in order, so one placed first is running (and
        // ready, by its startup probe) before any other init container that may already call a model.
        var sidecar = ToNode(Sidecar(pod, podNamespace));
        operations.Add(spec.InitContainers is null or { Count: 0 }
            ? JsonPatchOperation.Add(JsonPointer.Of("spec", "initContainers"), new JsonArray(sidecar))
            : JsonPatchOperation.Add(JsonPointer.Of("spec", "initContainers", 0), sidecar));

        if (pod.Metadata is null)
        {
            operations.Add(JsonPatchOperation.Add(JsonPointer.Of("metadata"), new JsonObject { ["annotations"] = new JsonObject { [InjectedAnnotation] = "true" } }));
        }
        else if (annotations is null)
        {
            operations.Add(JsonPatchOperation.Add(JsonPointer.Of("metadata", "annotations"), new JsonObject { [InjectedAnnotation] = "true" }));
        }
        else
        {
            operations.Add(JsonPatchOperation.Add(JsonPointer.Of("metadata", "annotations", InjectedAnnotation), "true"));
        }

        return new JsonPatch(operations);
    }

    /// <summary>The Secrets of the namespace that hold keys: the provider Secret and the routing rules' key Secrets.</summary>
    public IReadOnlySet<string> KeySecrets(NamespaceInfo podNamespace)
    {
        ArgumentNullException.ThrowIfNull(podNamespace);
        return new HashSet<string>(podNamespace.RouteSecrets.Append(_options.ProviderSecretName), StringComparer.Ordinal);
    }

    /// <summary>
    /// The meter container when the pod already carries exactly what this webhook injects (a re-admission: the same
    /// pod reinvoked, or a pod recreated from an injected one), else null. A container that merely has the meter's
    /// name is reported in <paramref name="problems"/>: it would be handed the meter's key volumes.
    /// </summary>
    private V1Container? VerifiedMeter(V1Pod pod, NamespaceInfo podNamespace, List<string> problems)
    {
        var spec = pod.Spec;
        var named = (spec.InitContainers ?? []).Concat(spec.Containers ?? []).Concat((spec.EphemeralContainers ?? []).Select(AsContainer))
            .Count(c => c.Name == ContainerName);
        if (named == 0)
        {
            return null;
        }

        var candidate = spec.InitContainers is { Count: > 0 } init && init[0].Name == ContainerName ? init[0] : null;
        if (named == 1 && candidate is not null
            && SidecarMatcher.SameContainer(candidate, Sidecar(pod, podNamespace))
            && SidecarMatcher.SameVolumes((spec.Volumes ?? []).Where(v => PodCustody.IsReserved(v.Name)), Volumes(podNamespace)))
        {
            return candidate;
        }

        problems.Add($"container {ContainerName}: the name is reserved for the meter the webhook injects, and this one differs from it "
            + "(image, command, args, env, mounts or volumes); remove it and let the webhook add the meter");
        return null;
    }

    private static V1Container AsContainer(V1EphemeralContainer c) => new() { Name = c.Name };

    /// <summary>Identity values from annotations reach the meter's command line through the downward API; labels are already constrained by the API server.</summary>
    private List<string> TagValueViolations(V1Pod pod)
    {
        var problems = new List<string>();
        foreach (var source in _options.EffectiveIdentity.SelectMany(m => m.Sources).Where(s => s.Kind == IdentitySourceKind.Annotation).DistinctBy(s => s.Key))
        {
            if (pod.Metadata?.Annotations?.TryGetValue(source.Key, out var value) != true || value is null)
            {
                continue;
            }

            if (value.Length > PodCustody.MaxTagValueLength)
            {
                problems.Add($"annotation {source.Key}: the value is {value.Length.ToString(CultureInfo.InvariantCulture)} characters long, "
                    + $"more than the {PodCustody.MaxTagValueLength.ToString(CultureInfo.InvariantCulture)} an identity tag may have");
            }
            else if (value.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029'))
            {
                problems.Add($"annotation {source.Key}: the value has control or line-separator characters, which an identity tag may not have");
            }
        }

        return problems;
    }

    /// <summary>
    /// The identity tags this pod gets, by tag: the first source of each mapping that is present with a non-empty
    /// value at admission. A missing label would reach the meter as an empty string through the downward API and
    /// pin the tag to "" so that no request header could fill it in; leaving the tag out keeps it the request's.
    /// </summary>
    public IReadOnlyList<(string Tag, IdentitySource Source)> IdentityOf(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var found = new List<(string, IdentitySource)>();
        foreach (var mapping in _options.EffectiveIdentity)
        {
            var source = mapping.Sources.FirstOrDefault(s =>
                (s.Kind == IdentitySourceKind.Label ? pod.Metadata?.Labels : pod.Metadata?.Annotations) is { } values
                && values.TryGetValue(s.Key, out var value)
                && !string.IsNullOrEmpty(value));
            if (source is not null)
            {
                found.Add((mapping.Tag, source));
            }
        }

        return found;
    }

    private static void AddBaseUrls(List<JsonPatchOperation> operations, string list, IList<V1Container> containers, V1EnvVar[] baseUrls, bool keepBaseUrls)
    {
        for (var i = 0; i < containers.Count; i++)
        {
            var env = containers[i].Env;
            if (env is null)
            {
                operations.Add(JsonPatchOperation.Add(JsonPointer.Of("spec", list, i, "env"), new JsonArray([.. baseUrls.Select(ToNode)])));
                continue;
            }

            foreach (var variable in baseUrls)
            {
                var existing = Enumerable.Range(0, env.Count).Where(j => env[j].Name == variable.Name).ToList();
                if (existing.Count == 0)
                {
                    operations.Add(JsonPatchOperation.Add(JsonPointer.Of("spec", list, i, "env", "-"), ToNode(variable)));
                }
                else if (!keepBaseUrls)
                {
                    // The whole entry is replaced, not its value: an entry with valueFrom must not end up with both.
                    operations.AddRange(existing.Select(j => JsonPatchOperation.Replace(JsonPointer.Of("spec", list, i, "env", j), ToNode(variable))));
                }
            }
        }
    }

    internal V1Container Sidecar(V1Pod pod, NamespaceInfo podNamespace)
    {
        var o = _options;
        var identity = IdentityOf(pod);
        var args = new List<string>
        {
            "--listen", $"127.0.0.1:{o.ProxyPort.ToString(CultureInfo.InvariantCulture)}",
            "--admin-listen", $"0.0.0.0:{o.AdminPort.ToString(CultureInfo.InvariantCulture)}",
            "--policy", PolicyPath,
            "--ledger", EscapeExpansion(o.Ledger),
            // The root filesystem is read-only; the spool lives on an emptyDir that survives restarts of the sidecar.
            "--spool", SpoolPath + "/usage.spool",
        };
        if (o.KeySource == SidecarKeySource.Secret)
        {
            args.AddRange(["--secrets-dir", SecretsPath]);
        }
        else
        {
            args.AddRange(["--key-broker", o.KeyBrokerUrl, "--key-broker-token", IdentityPath + "/token", "--key-broker-ca", IdentityPath + "/ca.crt"]);
            if (o.Ledger.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
            {
                // The operator's CA also signs the ledger's serving certificate (config/redis).
                args.AddRange(["--ledger-ca", IdentityPath + "/ca.crt"]);
            }
        }

        args.AddRange(["--namespace", podNamespace.Name]);
        foreach (var (key, value) in podNamespace.Labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            args.Add("--namespace-label");
            args.Add(EscapeExpansion($"{key}={value}"));
        }

        var env = new List<V1EnvVar>();
        foreach (var (tag, source) in identity)
        {
            var variable = TagVariable(tag);
            env.Add(new V1EnvVar { Name = variable, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = source.FieldPath } } });
            args.Add("--tag");
            args.Add($"{EscapeExpansion(tag)}=$({variable})");
        }

        args.AddRange(o.ExtraArgs);

        if (o.KeySource == SidecarKeySource.Secret)
        {
            // Optional: the keys may instead come from routing rules' Secrets; a missing key is the meter's error to report.
            env.Add(SecretEnv("TOLLGATE_ANTHROPIC_API_KEY", o.AnthropicKeyName));
            env.Add(SecretEnv("TOLLGATE_OPENAI_API_KEY", o.OpenAiKeyName));
        }

        var startupz = new V1HTTPGetAction { Port = o.AdminPort, Path = "/startupz" };
        var readyz = new V1HTTPGetAction { Port = o.AdminPort, Path = "/readyz" };
        return new V1Container
        {
            Name = ContainerName,
            Image = o.Image,
            ImagePullPolicy = o.ImagePullPolicy,
            // A native sidecar: started before the app containers, stopped after them, and not waited for, so a
            // Job completes when its own containers exit.
            RestartPolicy = "Always",
            Args = args,
            Env = env,
            Ports = [new V1ContainerPort { ContainerPort = o.AdminPort, Name = "tollgate-admin", Protocol = "TCP" }],
            // Gates everything after the sidecar until the meter can serve (policy loaded, listeners up), not on the
            // ledger: during a Redis outage each budget's failurePolicy decides per request, and a CI pod still starts.
            StartupProbe = new V1Probe { HttpGet = startupz, PeriodSeconds = 1, TimeoutSeconds = 1, FailureThreshold = 300 },
            // Reports the ledger too (the pod's Ready condition, for operators); a native sidecar's readiness does not hold the job.
            ReadinessProbe = new V1Probe { HttpGet = readyz, PeriodSeconds = 10, TimeoutSeconds = 2, FailureThreshold = 3 },
            Resources = Resources(o.Resources),
            SecurityContext = new V1SecurityContext
            {
                RunAsNonRoot = true,
                RunAsUser = o.RunAsUser,
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                Privileged = false,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            VolumeMounts =
            [
                new V1VolumeMount { MountPath = PolicyPath, Name = PolicyVolume, ReadOnlyProperty = true },
                .. KeyMounts(podNamespace),
                new V1VolumeMount { MountPath = SpoolPath, Name = SpoolVolume },
                new V1VolumeMount { MountPath = "/tmp", Name = TmpVolume },
            ],
        };
    }

    private IEnumerable<V1VolumeMount> KeyMounts(NamespaceInfo podNamespace) => _options.KeySource == SidecarKeySource.Secret
        ?
        [
            // Under its own name: the meter reads routing rules' keys as <secrets-dir>/<secret>/<key>.
            new V1VolumeMount { MountPath = $"{SecretsPath}/{_options.ProviderSecretName}", Name = ProviderKeysVolume, ReadOnlyProperty = true },
            .. RouteSecrets(podNamespace).Select(secret =>
                new V1VolumeMount { MountPath = $"{SecretsPath}/{secret}", Name = RouteSecretVolume(secret), ReadOnlyProperty = true }),
        ]
        : [new V1VolumeMount { MountPath = IdentityPath, Name = IdentityVolume, ReadOnlyProperty = true }];

    private V1EnvVar SecretEnv(string name, string key) =>
        new() { Name = name, ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Key = key, Name = _options.ProviderSecretName, Optional = true } } };

    internal List<V1Volume> Volumes(NamespaceInfo podNamespace) =>
    [
        // Not optional: until the operator has written the namespace's policy the pod waits, rather than run with no budgets.
        new V1Volume { Name = PolicyVolume, ConfigMap = new V1ConfigMapVolumeSource { Name = _options.PolicyConfigMapName } },
        .. KeyVolumes(podNamespace),
        new V1Volume { Name = SpoolVolume, EmptyDir = new V1EmptyDirVolumeSource() },
        new V1Volume { Name = TmpVolume, EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory", SizeLimit = new ResourceQuantity("16Mi") } },
    ];

    private IEnumerable<V1Volume> KeyVolumes(NamespaceInfo podNamespace) => _options.KeySource == SidecarKeySource.Secret
        ?
        [
            new V1Volume { Name = ProviderKeysVolume, Secret = new V1SecretVolumeSource { SecretName = _options.ProviderSecretName, Optional = true } },
            .. RouteSecrets(podNamespace).Select(secret =>
                new V1Volume { Name = RouteSecretVolume(secret), Secret = new V1SecretVolumeSource { SecretName = secret, Optional = true } }),
        ]
        :
        [
            // The meter's own pod-bound token (only it mounts this volume; the admission rules keep job containers off it
            // and stop them from declaring a token of this audience themselves) and the CA the operator publishes. The
            // ConfigMap is not optional: without it the meter could not trust the broker, so the pod waits for it.
            new V1Volume
            {
                Name = IdentityVolume,
                Projected = new V1ProjectedVolumeSource
                {
                    Sources =
                    [
                        new V1VolumeProjection
                        {
                            ServiceAccountToken = new V1ServiceAccountTokenProjection { Audience = MeterAudience, ExpirationSeconds = IdentityTokenSeconds, Path = "token" },
                        },
                        new V1VolumeProjection
                        {
                            ConfigMap = new V1ConfigMapProjection { Name = _options.CaConfigMapName, Items = [new V1KeyToPath { Key = "ca.crt", Path = "ca.crt" }] },
                        },
                    ],
                },
            },
        ];

    /// <summary>
    /// The routing rules' key Secrets besides the provider one, each mounted (optional: a rule may name a Secret that
    /// only some namespaces have; the meter then skips that target and says why) under its own name.
    /// </summary>
    private IEnumerable<string> RouteSecrets(NamespaceInfo podNamespace) =>
        podNamespace.RouteSecrets.Where(s => s != _options.ProviderSecretName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

    /// <summary>A volume name for a Secret: DNS-label safe and within 63 characters.</summary>
    public static string RouteSecretVolume(string secret)
    {
        var name = "tollgate-key-" + secret.Replace('.', '-');
        return name.Length <= 63 ? name : name[..54] + "-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret)))[..8].ToLowerInvariant();
    }

    private static V1ResourceRequirements Resources(SidecarResources r)
    {
        static Dictionary<string, ResourceQuantity>? Of(string? cpu, string? memory)
        {
            var values = new Dictionary<string, ResourceQuantity>(StringComparer.Ordinal);
            if (cpu is not null)
            {
                values["cpu"] = new ResourceQuantity(cpu);
            }

            if (memory is not null)
            {
                values["memory"] = new ResourceQuantity(memory);
            }

            return values.Count == 0 ? null : values;
        }

        return new V1ResourceRequirements { Limits = Of(r.CpuLimit, r.MemoryLimit), Requests = Of(r.CpuRequest, r.MemoryRequest) };
    }

    /// <summary><c>TOLLGATE_TAG_</c> plus the tag in upper case with every other character than A-Z, 0-9 made <c>_</c>.</summary>
    public static string TagVariable(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        var name = new StringBuilder("TOLLGATE_TAG_");
        foreach (var c in tag.ToUpperInvariant())
        {
            name.Append(c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') ? c : '_');
        }

        return name.ToString();
    }

    // The kubelet expands $(VAR) in args; a literal "$(" must be written "$$(" to reach the meter unchanged.
    private static string EscapeExpansion(string value) => value.Replace("$(", "$$(", StringComparison.Ordinal);

    private static JsonNode ToNode<T>(T value) => JsonNode.Parse(KubernetesJson.Serialize(value))!;
}
