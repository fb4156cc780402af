using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using Tollgate.Operator.Hosting;
using Tollgate.Operator.Tests.Admission;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport.FakeKubernetes;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

/// <summary>
/// The operator installs key custody at the API server: parameters, policy and binding, in that order, kept in step
/// with the routing rules. Pods go to the fake API server (which evaluates the stored policy with a real CEL
/// interpreter) as the webhook would have mutated them, since the fake does not call webhooks.
/// </summary>
public sealed class AdmissionPolicyControllerTests
{
    private const string AdmissionGroup = "admissionregistration.k8s.io";
    private const string Metered = "ci-payments";
    private const string TeamSecret = "team-openai-key";
    private static readonly SidecarOptions Sidecar = PodManifests.Options();

    [Fact]
    public async Task On_a_fresh_cluster_parameters_come_before_the_binding_and_the_policy_admits_injected_pods_and_denies_a_job_mounting_the_keys()
    {
        await using var cluster = await StartAsync();
        await cluster.LabelNamespaceAsync(Metered, metered: true, new() { ["cost-center"] = "cc-4711" });
        var host = await cluster.StartOperatorAsync(sidecar: Sidecar);

        await EventuallyAsync(() => Binding(cluster), b => b is not null, "the binding");

        var writes = cluster.Api.Requests.Where(r => r.Verb == "create").Select(r => r.Path + " " + r.Body).ToList();
        var parameters = writes.FindIndex(w => w.Contains($"/namespaces/{OperatorNamespace}/configmaps ", StringComparison.Ordinal) && w.Contains(AdmissionPolicy.ParamsName, StringComparison.Ordinal));
        var policy = writes.FindIndex(w => w.StartsWith($"/apis/{AdmissionGroup}/v1/validatingadmissionpolicies ", StringComparison.Ordinal));
        var binding = writes.FindIndex(w => w.StartsWith($"/apis/{AdmissionGroup}/v1/validatingadmissionpolicybindings ", StringComparison.Ordinal));
        Assert.True(parameters >= 0 && parameters < policy && policy < binding, $"created in the order parameters {parameters}, policy {policy}, binding {binding}");
        Assert.Equal(Sidecar.Image, Data(Parameters(cluster))[AdmissionPolicy.MeterImageKey]);
        Assert.Equal(Policy(cluster)!["metadata"]!["uid"]!.GetValue<string>(), Binding(cluster)!["metadata"]!["ownerReferences"]![0]!["uid"]!.GetValue<string>());

        var injected = await InjectedAsync(host, PodManifests.JobPod, Metered);
        var attack = injected.DeepClone().AsObject();
        attack["spec"]!["containers"]![0]!["volumeMounts"] = JsonNode.Parse($$"""[{ "name": "{{SidecarInjector.ProviderKeysVolume}}", "mountPath": "/keys" }]""");

        var admitted = await cluster.Client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(injected), Metered);
        var denial = await DeniedAsync(cluster, attack, Metered);

        Assert.Equal(SidecarInjector.ContainerName, admitted.Spec.InitContainers[0].Name);
        Assert.Equal(HttpStatusCode.Forbidden, denial.Response.StatusCode);
        Assert.Contains(RuleMessage("MeterVolumes"), Message(denial), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_routing_rules_key_Secret_joins_the_parameters_and_a_job_reading_it_is_then_denied()
    {
        await using var cluster = await StartAsync();
        await cluster.LabelNamespaceAsync(Metered, metered: true);
        var host = await cluster.StartOperatorAsync(sidecar: Sidecar);
        await EventuallyAsync(() => Binding(cluster), b => b is not null, "the binding");

        // Injected while no rule named the Secret, as a replica with a stale cache would have done.
        var reader = await InjectedAsync(host, PodManifests.JobPod, Metered);
        reader["spec"]!["containers"]![0]!["env"] = JsonNode.Parse($$"""[{ "name": "OPENAI_API_KEY", "valueFrom": { "secretKeyRef": { "name": "{{TeamSecret}}", "key": "api-key" } } }]""");
        var before = await cluster.Client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(reader), Metered);

        await cluster.LabelNamespaceAsync("ci-other", metered: false);
        await cluster.ApplyRuleAsync(RuleWithKey("own-key", "ci-other", TeamSecret));
        var data = await EventuallyAsync(() => Data(Parameters(cluster)), d => d.ContainsKey(AdmissionPolicy.KeySecretPrefix + TeamSecret), "the rule's Secret in the parameters");
        var denial = await DeniedAsync(cluster, reader, Metered);

        Assert.NotNull(before.Metadata.Name);
        Assert.Contains(AdmissionPolicy.KeySecretPrefix + Sidecar.ProviderSecretName, data.Keys);
        Assert.Contains(RuleMessage("KeyEnv"), Message(denial), StringComparison.Ordinal);

        await cluster.Client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, OperatorCluster.Version, "ci-other", "airoutingrules", "own-key");
        await EventuallyAsync(() => Data(Parameters(cluster)), d => !d.ContainsKey(AdmissionPolicy.KeySecretPrefix + TeamSecret), "the Secret to leave the parameters");
    }

    [Fact]
    public async Task Pods_of_an_unmetered_namespace_are_never_judged_and_neither_are_those_of_a_namespace_that_stopped_being_metered()
    {
        await using var cluster = await StartAsync();
        await cluster.LabelNamespaceAsync(Metered, metered: true);
        await cluster.LabelNamespaceAsync("ci-other", metered: false);
        await cluster.StartOperatorAsync(sidecar: Sidecar);
        await EventuallyAsync(() => Binding(cluster), b => b is not null, "the binding");
        var unmetered = PodManifests.Json(CustodyPods.Attacks.Single(a => a.Name == "asks for hostNetwork").Yaml);
        unmetered["spec"]!["containers"]![0]!["envFrom"] = JsonNode.Parse($$"""[{ "secretRef": { "name": "{{Sidecar.ProviderSecretName}}" } }]""");

        var elsewhere = await cluster.Client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(WithName(unmetered, "plain", "ci-other")), "ci-other");
        var whileMetered = await DeniedAsync(cluster, WithName(unmetered, "plain", Metered), Metered);
        await cluster.LabelNamespaceAsync(Metered, metered: false);
        var afterwards = await cluster.Client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(WithName(unmetered, "plain", Metered)), Metered);

        Assert.True(elsewhere.Spec.HostNetwork);
        Assert.Contains(RuleMessage("Metered"), Message(whileMetered), StringComparison.Ordinal);
        Assert.True(afterwards.Spec.HostNetwork);
    }

    [Fact]
    public async Task A_restarted_operator_reads_everything_and_rewrites_nothing_that_is_unchanged()
    {
        await using var cluster = await StartAsync();
        await cluster.LabelNamespaceAsync(Metered, metered: true);
        await cluster.ApplyRuleAsync(RuleWithKey("own-key", Metered, TeamSecret));
        var first = await cluster.StartOperatorAsync(sidecar: Sidecar);
        await EventuallyAsync(() => Binding(cluster), b => b is not null, "the binding");
        await EventuallyAsync(() => Data(Parameters(cluster)), d => d.ContainsKey(AdmissionPolicy.KeySecretPrefix + TeamSecret), "the rule's Secret in the parameters");
        await first.StopAsync();
        var versions = Versions(cluster);
        cluster.Api.ClearRequests();

        await cluster.StartOperatorAsync(sidecar: Sidecar);

        // The binding is read last in a pass: once it is, the new leader has compared all three objects.
        await EventuallyAsync(
            () => cluster.Api.Requests,
            requests => requests.Any(r => r.Verb == "get" && r.Path.EndsWith($"/validatingadmissionpolicybindings/{AdmissionPolicy.BindingName}", StringComparison.Ordinal)),
            "the restarted operator to read the binding");

        // One pass at a time: a binding read after the metered namespace is touched comes after every write the first pass could make.
        var touched = cluster.Api.Requests.Count;
        await cluster.LabelNamespaceAsync(Metered, metered: true, new() { ["touched"] = "yes" });
        await EventuallyAsync(
            () => cluster.Api.Requests.Skip(touched),
            requests => requests.Any(r => r.Verb == "get" && r.Path.EndsWith($"/validatingadmissionpolicybindings/{AdmissionPolicy.BindingName}", StringComparison.Ordinal)),
            "another pass to read the binding");
        Assert.DoesNotContain(cluster.Api.Requests, r => r.Verb is "create" or "update" or "patch" or "delete" && IsCustodyObject(r.Path, r.Body));
        Assert.Equal(versions, Versions(cluster));
    }

    [Fact]
    public async Task Deleted_parameters_are_restored_and_a_binding_edited_to_warn_is_put_back_to_deny()
    {
        await using var cluster = await StartAsync();
        await cluster.LabelNamespaceAsync(Metered, metered: true);
        var options = Options();
        options.AdmissionResyncInterval = TimeSpan.FromMilliseconds(200);
        await cluster.StartOperatorAsync(options, Sidecar);
        await EventuallyAsync(() => Binding(cluster), b => b is not null, "the binding");
        var uid = Parameters(cluster)!["metadata"]!["uid"]!.GetValue<string>();

        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync(AdmissionPolicy.ParamsName, OperatorNamespace);
        var edited = await cluster.Client.AdmissionregistrationV1.ReadValidatingAdmissionPolicyBindingAsync(AdmissionPolicy.BindingName);
        edited.Spec.ValidationActions = ["Warn"];
        await cluster.Client.AdmissionregistrationV1.ReplaceValidatingAdmissionPolicyBindingAsync(edited, AdmissionPolicy.BindingName);

        await EventuallyAsync(() => Parameters(cluster), p => p is not null && p["metadata"]!["uid"]!.GetValue<string>() != uid, "the parameters to be recreated");
        var restored = await EventuallyAsync(() => Binding(cluster), b => b!["spec"]!["validationActions"]![0]!.GetValue<string>() == "Deny", "the binding to deny again");
        Assert.Single(restored!["spec"]!["validationActions"]!.AsArray());
    }

    [Fact]
    public async Task Before_kubernetes_1_30_only_the_parameters_are_written_and_after_an_upgrade_the_policy_and_binding_follow()
    {
        await using var cluster = await StartAsync();
        cluster.Api.UnregisterResource(AdmissionGroup, "v1", "validatingadmissionpolicies");
        cluster.Api.UnregisterResource(AdmissionGroup, "v1", "validatingadmissionpolicybindings");
        await cluster.LabelNamespaceAsync(Metered, metered: true);
        var options = Options();
        options.AdmissionResyncInterval = TimeSpan.FromMilliseconds(200);
        await cluster.StartOperatorAsync(options, Sidecar);

        await EventuallyAsync(() => Parameters(cluster), p => p is not null, "the parameters");
        await EventuallyAsync(() => cluster.PolicyConfigMap(Metered), p => p is not null, "the namespace's policy ConfigMap (the other controllers carry on)");
        await EventuallyAsync(() => cluster.Api.Requests.Count(r => r.Path.TrimEnd('/') == $"/apis/{AdmissionGroup}/v1"), n => n >= 2, "discovery to be asked again");
        Assert.DoesNotContain(cluster.Api.Requests, r => r.Path.Contains("/validatingadmissionpolic", StringComparison.Ordinal));

        cluster.Api.RegisterResource(new ApiResource(AdmissionGroup, "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", Namespaced: false) { HasStatusSubresource = true });
        cluster.Api.RegisterResource(new ApiResource(AdmissionGroup, "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", Namespaced: false));

        await EventuallyAsync(() => Binding(cluster), b => b is not null, "the binding after the upgrade");
        Assert.NotNull(Policy(cluster));
    }

    private static JsonObject RuleWithKey(string name, string ns, string secret)
    {
        var rule = Rule(name, ns, "gpt-4o-mini");
        var target = rule["spec"]!["route"]!["targets"]![0]!.AsObject();
        target["provider"] = "openai";
        target["apiKeySecretRef"] = new JsonObject { ["name"] = secret, ["key"] = "api-key" };
        return rule;
    }

    /// <summary>The pod as the webhook would hand it to the API server, from the operator's own view of the namespace.</summary>
    private static async Task<JsonObject> InjectedAsync(OperatorHost host, string yaml, string ns)
    {
        var info = await host.NamespaceLookup.FindAsync(ns, CancellationToken.None) ?? throw new InvalidOperationException($"namespace {ns} unknown to the operator");
        var pod = PodManifests.Json(yaml);
        pod["metadata"]!["namespace"] = ns;
        var result = new SidecarInjector(Microsoft.Extensions.Options.Options.Create(Sidecar)).Inject(PodManifests.Pod(pod), info);
        Assert.True(result.Patch is not null, $"the webhook refused the pod: {string.Join("; ", result.Violations)}");
        return Rfc6902.Apply(pod, JsonNode.Parse(result.Patch.ToUtf8Bytes())!.AsArray()).AsObject();
    }

    private static JsonObject WithName(JsonObject pod, string name, string ns)
    {
        var copy = pod.DeepClone().AsObject();
        copy["metadata"]!.AsObject().Remove("generateName");
        copy["metadata"]!["name"] = name;
        copy["metadata"]!["namespace"] = ns;
        return copy;
    }

    private static async Task<HttpOperationException> DeniedAsync(OperatorCluster cluster, JsonObject pod, string ns) =>
        await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.CreateNamespacedPodAsync(PodManifests.Pod(pod), ns));

    private static string Message(HttpOperationException e) => (string)JsonNode.Parse(e.Response.Content)!["message"]!;

    private static string RuleMessage(string rule) => AdmissionPolicy.Rules.Single(r => r.Name == rule).Message;

    private static JsonObject? Parameters(OperatorCluster cluster) => cluster.Api.Get("", "v1", "configmaps", OperatorNamespace, AdmissionPolicy.ParamsName);

    private static JsonObject? Policy(OperatorCluster cluster) => cluster.Api.Get(AdmissionGroup, "v1", "validatingadmissionpolicies", null, AdmissionPolicy.PolicyName);

    private static JsonObject? Binding(OperatorCluster cluster) => cluster.Api.Get(AdmissionGroup, "v1", "validatingadmissionpolicybindings", null, AdmissionPolicy.BindingName);

    private static Dictionary<string, string> Data(JsonObject? configMap) =>
        (configMap?["data"] as JsonObject ?? []).ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());

    private static string Versions(OperatorCluster cluster) =>
        string.Join(",", new[] { Parameters(cluster), Policy(cluster), Binding(cluster) }.Select(o => o?["metadata"]?["resourceVersion"]?.GetValue<string>()));

    private static bool IsCustodyObject(string path, string body) =>
        path.Contains("/validatingadmissionpolic", StringComparison.Ordinal)
        || (path.Contains($"/namespaces/{OperatorNamespace}/configmaps", StringComparison.Ordinal)
            && (path.EndsWith(AdmissionPolicy.ParamsName, StringComparison.Ordinal) || body.Contains(AdmissionPolicy.ParamsName, StringComparison.Ordinal)));
}
