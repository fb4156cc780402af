using Tollgate.Core.Tagging;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// How the pod webhook builds the <c>tollgate-meter</c> sidecar. Bound from configuration section
/// <see cref="SectionName"/>; every default matches <c>config/default</c>.
/// </summary>
public sealed class SidecarOptions
{
    public const string SectionName = "Tollgate:Sidecar";

    /// <summary>The meter image, e.g. <c>ghcr.io/example/tollgate-meter:1.2.3</c>.</summary>
    public string Image { get; set; } = "tollgate/meter:latest";

    public string ImagePullPolicy { get; set; } = "IfNotPresent";

    /// <summary>Proxy port on the pod's loopback; job containers reach the meter here.</summary>
    public int ProxyPort { get; set; } = 8787;

    /// <summary>Admin port (<c>/metrics</c>, <c>/healthz</c>, <c>/startupz</c>, <c>/readyz</c>) on every interface, for probes and Prometheus.</summary>
    public int AdminPort { get; set; } = 9464;

    /// <summary>The shared ledger every meter in the cluster settles against.</summary>
    public string Ledger { get; set; } = "rediss://tollgate-redis.tollgate-system.svc:6379";

    /// <summary>The ConfigMap the operator writes into each metered namespace with that namespace's compiled policy.</summary>
    public string PolicyConfigMapName { get; set; } = "tollgate-policy";

    /// <summary>
    /// Where the injected meter gets its provider keys, routing rules' key Secrets and ledger credentials:
    /// <see cref="SidecarKeySource.Broker"/> (default) from the operator's key broker, so nothing in the pod's namespace
    /// holds a key; <see cref="SidecarKeySource.Secret"/> from Secrets in the pod's namespace, mounted into the meter.
    /// </summary>
    public SidecarKeySource KeySource { get; set; } = SidecarKeySource.Broker;

    /// <summary>The key broker the meter asks in broker mode: the operator's webhook Service, which serves it too.</summary>
    public string KeyBrokerUrl { get; set; } = "https://tollgate-webhook.tollgate-system.svc/meter/v1/credentials";

    /// <summary>The ConfigMap, in every metered namespace, with the operator's CA (<c>ca.crt</c>) the meter trusts the broker (and a TLS ledger) by.</summary>
    public string CaConfigMapName { get; set; } = "tollgate-ca";

    /// <summary>
    /// The Secret with the provider API keys: in the pod's namespace in Secret mode, in the operator's namespace
    /// (the broker reads it there) in broker mode.
    /// </summary>
    public string ProviderSecretName { get; set; } = "tollgate-provider-keys";

    public string AnthropicKeyName { get; set; } = "anthropic";

    public string OpenAiKeyName { get; set; } = "openai";

    /// <summary>UID the meter runs as; the .NET images' <c>app</c> user. Numeric so that <c>runAsNonRoot</c> can be verified.</summary>
    public long RunAsUser { get; set; } = 1654;

    public SidecarResources Resources { get; set; } = new();

    /// <summary>
    /// Which pod labels or annotations give the authoritative identity tags. Empty means
    /// <see cref="DefaultIdentity"/>: a configured list replaces the defaults instead of being appended to them,
    /// which is what the configuration binder would do to a pre-filled list.
    /// </summary>
    public IList<IdentityMapping> Identity { get; set; } = [];

    /// <summary>Further meter flags, e.g. <c>--input-estimate bytes</c> or <c>--required-tags team,repo</c>.</summary>
    public IList<string> ExtraArgs { get; set; } = [];

    public static IReadOnlyList<IdentityMapping> DefaultIdentity { get; } =
    [
        new(TagKeys.Team, [IdentitySource.Label("tollgate.io/team"), IdentitySource.Label("app.kubernetes.io/part-of")]),
        new(TagKeys.Repo, [IdentitySource.Annotation("tollgate.io/repo")]),
        new(TagKeys.Pipeline, [IdentitySource.Label("tollgate.io/pipeline")]),
    ];

    public IReadOnlyList<IdentityMapping> EffectiveIdentity => Identity.Count == 0 ? DefaultIdentity : [.. Identity];
}

/// <summary>Where the meter's keys come from; see <see cref="SidecarOptions.KeySource"/>.</summary>
public enum SidecarKeySource
{
    Broker,
    Secret,
}

/// <summary>Requests and limits of the sidecar; null leaves a value unset.</summary>
public sealed class SidecarResources
{
    public string? CpuRequest { get; set; } = "50m";

    // The o200k vocabulary alone is about 55 MB of the meter's memory (bench/README.md).
    public string? MemoryRequest { get; set; } = "128Mi";

    // No CPU limit by default: throttling the meter would add latency to every model call of the job.
    public string? CpuLimit { get; set; }

    public string? MemoryLimit { get; set; } = "512Mi";
}

/// <summary>An identity tag and where its value comes from: the first source present on the pod wins.</summary>
public sealed record IdentityMapping(string Tag, IReadOnlyList<IdentitySource> Sources);

public enum IdentitySourceKind
{
    Label,
    Annotation,
}

/// <summary>A pod label or annotation by key.</summary>
public sealed record IdentitySource(IdentitySourceKind Kind, string Key)
{
    public static IdentitySource Label(string key) => new(IdentitySourceKind.Label, key);

    public static IdentitySource Annotation(string key) => new(IdentitySourceKind.Annotation, key);

    /// <summary>The downward API field path, e.g. <c>metadata.labels['tollgate.io/team']</c>.</summary>
    public string FieldPath => Kind == IdentitySourceKind.Label ? $"metadata.labels['{Key}']" : $"metadata.annotations['{Key}']";
}
