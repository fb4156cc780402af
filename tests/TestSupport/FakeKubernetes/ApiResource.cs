namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// One resource type the fake serves, as discovery and the URL know it. Versions of one group and plural share storage,
/// as a CRD's served versions do (conversion "None": only <c>apiVersion</c> differs).
/// </summary>
/// <param name="Group">Empty for the core group (<c>/api/v1</c>).</param>
public sealed record ApiResource(string Group, string Version, string Plural, string Kind, bool Namespaced)
{
    public string Singular { get; init; } = Kind.ToLowerInvariant();

    /// <summary>A <c>/status</c> subresource: the main resource's writes keep the old status, status writes keep everything else.</summary>
    public bool HasStatusSubresource { get; init; }

    /// <summary>
    /// Served like a custom resource: <c>metadata.generation</c> is tracked, strategic merge patch is refused (415),
    /// an update must carry <c>metadata.resourceVersion</c>, list items carry kind and apiVersion, delete returns the object.
    /// </summary>
    public bool IsCustom { get; init; }

    public IReadOnlyList<string> ShortNames { get; init; } = [];

    /// <summary>Field selector labels beyond <c>metadata.name</c> and <c>metadata.namespace</c>, as the real type allows.</summary>
    public IReadOnlyList<string> SelectableFields { get; init; } = [];

    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    public string ListKind => Kind + "List";

    /// <summary>How the API server names the resource in messages: <c>configmaps</c>, <c>aibudgets.tollgate.io</c>.</summary>
    public string QualifiedName => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    /// <summary>How the API server names the kind in Invalid messages: <c>ConfigMap</c>, <c>AiBudget.tollgate.io</c>.</summary>
    public string QualifiedKind => Group.Length == 0 ? Kind : $"{Kind}.{Group}";

    internal bool TracksGeneration => IsCustom;

    internal bool AllowsUnconditionalUpdate => !IsCustom;

    /// <summary>The real registries of these types answer a delete with the object rather than a Status.</summary>
    internal bool ReturnsDeletedObject => IsCustom || (Group.Length == 0 && Plural is "pods" or "namespaces");

    internal ResourceIdentity Identity => new(Group, Plural);

    /// <summary>The built-in types an operator touches, with the field selectors the real API server accepts for them.</summary>
    internal static IReadOnlyList<ApiResource> BuiltIns { get; } =
    [
        new("", "v1", "namespaces", "Namespace", Namespaced: false)
        {
            HasStatusSubresource = true, ShortNames = ["ns"], SelectableFields = ["status.phase"],
        },
        new("", "v1", "configmaps", "ConfigMap", Namespaced: true) { ShortNames = ["cm"] },
        new("", "v1", "secrets", "Secret", Namespaced: true) { SelectableFields = ["type"] },
        new("", "v1", "events", "Event", Namespaced: true)
        {
            ShortNames = ["ev"],
            SelectableFields =
            [
                "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                "reason", "reportingComponent", "source", "type",
            ],
        },
        new("", "v1", "pods", "Pod", Namespaced: true)
        {
            HasStatusSubresource = true, ShortNames = ["po"],
            SelectableFields =
            [
                "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
            ],
        },
        new("", "v1", "services", "Service", Namespaced: true) { HasStatusSubresource = true, ShortNames = ["svc"] },
        new("", "v1", "serviceaccounts", "ServiceAccount", Namespaced: true) { ShortNames = ["sa"] },
        new("coordination.k8s.io", "v1", "leases", "Lease", Namespaced: true),
        new("events.k8s.io", "v1", "events", "Event", Namespaced: true) { ShortNames = ["ev"] },
        new("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", Namespaced: false),
        new("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", Namespaced: false),
        new("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", Namespaced: false)
        {
            HasStatusSubresource = true,
        },
        new("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", Namespaced: false),
        new("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", Namespaced: false)
        {
            HasStatusSubresource = true, ShortNames = ["crd", "crds"],
        },
    ];

    internal static ApiResource CustomResourceDefinitions { get; } = BuiltIns.Single(r => r.Plural == "customresourcedefinitions");

    internal static ApiResource Namespaces { get; } = BuiltIns.Single(r => r.Plural == "namespaces");
}

/// <summary>Where objects of a resource live, whatever version they are read at.</summary>
internal readonly record struct ResourceIdentity(string Group, string Plural);

/// <summary>One object's place in the store; <see cref="Namespace"/> is empty for cluster-scoped objects.</summary>
internal readonly record struct ObjectKey(ResourceIdentity Resource, string Namespace, string Name)
{
    /// <summary>The order etcd keys (<c>/registry/configmaps/ns/name</c>) sort in bytewise, which is the order the real API server lists in.</summary>
    public static Comparison<ObjectKey> StorageOrder { get; } = (a, b) => string.CompareOrdinal(a.Path, b.Path);

    public string Path => Namespace.Length == 0 ? Name : $"{Namespace}/{Name}";
}
