using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

/// <summary>Pod manifests as the API server hands them to a webhook, written as a user (or the Job controller) would.</summary>
internal static partial class PodManifests
{
    /// <summary>A Job's pod: base URL already pointing at the provider in one container, no env at all in the other.</summary>
    public const string JobPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          generateName: pr-review-28431-
          namespace: ci-payments
          labels:
            batch.kubernetes.io/job-name: pr-review-28431
            batch.kubernetes.io/controller-uid: 6d1c0c3e-0d5a-4b8e-9a39-4b2f0e9b7a11
            tollgate.io/team: payments
            tollgate.io/pipeline: pr-review
          annotations:
            tollgate.io/repo: acme/checkout
            kubectl.kubernetes.io/default-container: agent
        spec:
          restartPolicy: Never
          containers:
            - name: agent
              image: ghcr.io/acme/claude-code-runner:2.1
              command: ["claude", "-p", "review this diff"]
              env:
                - name: ANTHROPIC_BASE_URL
                  value: https://api.anthropic.com
                - name: GIT_SHA
                  value: 3f2a9c1
              volumeMounts:
                - name: workspace
                  mountPath: /workspace
            - name: reporter
              image: ghcr.io/acme/reporter:1.0
          volumes:
            - name: workspace
              emptyDir: {}
        """;

    /// <summary>Init containers that may call a model; team only through app.kubernetes.io/part-of; no repo, no pipeline; no annotations or volumes.</summary>
    public const string PodWithInitContainers = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: nightly-tests
          namespace: ci-payments
          labels:
            app.kubernetes.io/part-of: storefront
        spec:
          restartPolicy: Never
          initContainers:
            - name: clone
              image: alpine/git:2.45
              env:
                - name: REPO_URL
                  value: https://git.example.com/acme/storefront.git
            - name: plan-tests
              image: ghcr.io/acme/test-planner:0.4
          containers:
            - name: tests
              image: ghcr.io/acme/test-runner:3.2
        """;

    public const string OptedOutPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: calls-a-local-model
          namespace: ci-payments
          labels:
            tollgate.io/team: payments
          annotations:
            tollgate.io/inject: "false"
        spec:
          containers:
            - name: job
              image: busybox:1.36
        """;

    public const string UnmeteredNamespacePod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
          namespace: default
          labels:
            tollgate.io/team: payments
        spec:
          containers:
            - name: web
              image: nginx:1.27
        """;

    /// <summary>A pod whose authors point the OpenAI SDK at a test double on purpose, from a ConfigMap.</summary>
    public const string KeepBaseUrlsPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: contract-tests
          namespace: ci-payments
          labels:
            tollgate.io/team: payments
            tollgate.io/pipeline: ""
          annotations:
            tollgate.io/keep-base-urls: "true"
        spec:
          containers:
            - name: job
              image: busybox:1.36
              env:
                - name: OPENAI_BASE_URL
                  valueFrom:
                    configMapKeyRef:
                      name: llm-double
                      key: url
        """;

    public static NamespaceInfo MeteredNamespace { get; } = new("ci-payments", new Dictionary<string, string>
    {
        ["kubernetes.io/metadata.name"] = "ci-payments",
        ["tollgate.io/meter"] = "enabled",
        ["cost-center"] = "cc-4711",
    });

    /// <summary>Metered, and a cluster admin allowed its pods to opt out.</summary>
    public static NamespaceInfo OptOutNamespace { get; } = new("ci-sandbox", new Dictionary<string, string>
    {
        ["kubernetes.io/metadata.name"] = "ci-sandbox",
        ["tollgate.io/meter"] = "enabled",
        ["tollgate.io/allow-opt-out"] = "true",
    });

    public static NamespaceInfo PlainNamespace { get; } = new("default", new Dictionary<string, string>
    {
        ["kubernetes.io/metadata.name"] = "default",
    });

    /// <summary>Secret mode: the meter mounts the key Secrets of the pod's namespace (what most webhook and custody tests are about).</summary>
    public static SidecarOptions Options() => new() { Image = "registry.example.com/tollgate/meter:1.0.0", KeySource = SidecarKeySource.Secret };

    /// <summary>Broker mode, the default: the meter gets its keys from the operator's key broker.</summary>
    public static SidecarOptions BrokerOptions() => new() { Image = "registry.example.com/tollgate/meter:1.0.0" };

    /// <summary>The pod as JSON, through the typed model, which is how the API server serialises it for a webhook.</summary>
    public static JsonObject Json(string yaml) => JsonNode.Parse(KubernetesJson.Serialize(KubernetesYaml.Deserialize<V1Pod>(yaml)))!.AsObject();

    public static V1Pod Pod(string yaml) => KubernetesYaml.Deserialize<V1Pod>(yaml);

    public static V1Pod Pod(JsonNode json) => KubernetesJson.Deserialize<V1Pod>(json.ToJsonString());

    /// <summary>
    /// The command line the kubelet would start a container with: downward-API env resolved from the pod's labels and
    /// annotations (a missing key resolves to ""), then <c>$(VAR)</c> in args expanded and <c>$$</c> unescaped.
    /// </summary>
    public static IReadOnlyList<string> ExpandedArgs(V1Pod pod, V1Container container)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in container.Env ?? [])
        {
            if (variable.Value is not null)
            {
                env[variable.Name] = variable.Value;
            }
            else if (variable.ValueFrom?.FieldRef?.FieldPath is { } fieldPath)
            {
                var match = FieldPathPattern().Match(fieldPath);
                Assert.True(match.Success, $"unsupported fieldPath {fieldPath}");
                var values = match.Groups[1].Value == "labels" ? pod.Metadata.Labels : pod.Metadata.Annotations;
                env[variable.Name] = values is not null && values.TryGetValue(match.Groups[2].Value, out var value) ? value : string.Empty;
            }
        }

        return [.. (container.Args ?? []).Select(arg => ReferencePattern().Replace(arg, m =>
            m.Value == "$$" ? "$"
            : env.TryGetValue(m.Groups[1].Value, out var value) ? value
            : m.Value))];
    }

    [GeneratedRegex(@"^metadata\.(labels|annotations)\['(.+)'\]$")]
    private static partial Regex FieldPathPattern();

    [GeneratedRegex(@"\$\$|\$\(([^)]*)\)")]
    private static partial Regex ReferencePattern();
}

internal sealed class FakeNamespaceLookup(params NamespaceInfo[] namespaces) : INamespaceLookup
{
    public Exception? Failure { get; set; }

    public ValueTask<NamespaceInfo?> FindAsync(string name, CancellationToken cancellationToken) =>
        Failure is not null
            ? ValueTask.FromException<NamespaceInfo?>(Failure)
            : ValueTask.FromResult(namespaces.FirstOrDefault(n => n.Name == name));
}
