namespace Tollgate.Core.Matching;

/// <summary>What policy knows about one request: where it came from, its tags and the model it asks for.</summary>
/// <param name="Namespace">Kubernetes namespace of the calling pod; empty in standalone mode.</param>
/// <param name="NamespaceLabels">Labels of that namespace, for <c>namespaceSelector</c>.</param>
/// <param name="Metadata">Request tags (team, repo, pipeline, agent_step, user, …).</param>
/// <param name="Provider">anthropic or openai.</param>
/// <param name="Model">The model requested.</param>
public sealed record RequestContext(
    string Namespace,
    IReadOnlyDictionary<string, string> NamespaceLabels,
    IReadOnlyDictionary<string, string> Metadata,
    string Provider,
    string Model)
{
    public static IReadOnlyDictionary<string, string> NoLabels { get; } = new Dictionary<string, string>();

    public string Tag(string key) => Metadata.TryGetValue(key, out var value) ? value : string.Empty;
}
