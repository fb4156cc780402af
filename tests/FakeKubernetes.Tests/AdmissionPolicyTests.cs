using System.Net;
using k8s;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class AdmissionPolicyTests
{
    [Fact]
    public async Task A_bound_policy_denies_matching_writes_with_the_api_servers_message_and_leaves_other_namespaces_alone()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "guarded", Labels = new Dictionary<string, string> { ["guard"] = "on" } } });
        await cluster.Client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(Policy("has(object.data) && has(object.data.empty) && !('forbidden' in object.data)"));
        await cluster.Client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(Binding(paramRef: null));

        var allowed = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("ok", ("empty", "")), "guarded");
        var denied = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("no", ("empty", ""), ("forbidden", "x")), "guarded"));
        var elsewhere = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("no", ("forbidden", "x")), "default");

        // has() tests presence: an empty string value is present.
        Assert.Equal("ok", allowed.Metadata.Name);
        Assert.Equal(HttpStatusCode.Forbidden, denied.Code);
        Assert.Equal("configmaps \"no\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request: no forbidden key", denied.Status["message"]!.GetValue<string>());
        Assert.Equal("no", elsewhere.Metadata.Name);
    }

    [Fact]
    public async Task A_missing_param_denies_under_deny_and_an_expression_error_denies_under_fail()
    {
        await using var cluster = await StartAsync();
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "guarded", Labels = new Dictionary<string, string> { ["guard"] = "on" } } });
        await cluster.Client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(Policy("object.data.missing == params.data.value", paramKind: true));
        await cluster.Client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(Binding(new V1ParamRef { Name = "params", NamespaceProperty = "default", ParameterNotFoundAction = "Deny" }));

        var noParams = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a", ("x", "1")), "guarded"));
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("params", ("value", "1")), "default");
        var error = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("b", ("x", "1")), "guarded"));

        Assert.Equal((HttpStatusCode.UnprocessableEntity, HttpStatusCode.UnprocessableEntity), (noParams.Code, error.Code));
        Assert.Contains("no params found for policy binding with `Deny` parameterNotFoundAction", noParams.Status["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("resulted in error", error.Status["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policies_and_bindings_come_back_with_the_api_servers_defaults()
    {
        await using var cluster = await StartAsync();

        var policy = await cluster.Client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(Policy("true"));
        var binding = await cluster.Client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(Binding(paramRef: null));
        policy.Spec.MatchConstraints.MatchPolicy = null;
        var replaced = await cluster.Client.AdmissionregistrationV1.ReplaceValidatingAdmissionPolicyAsync(policy, "p");

        Assert.Equal(("Fail", "Equivalent", "*"), (policy.Spec.FailurePolicy, replaced.Spec.MatchConstraints.MatchPolicy, policy.Spec.MatchConstraints.ResourceRules[0].Scope));
        Assert.NotNull(policy.Spec.MatchConstraints.NamespaceSelector);
        Assert.NotNull(policy.Spec.MatchConstraints.ObjectSelector);
        Assert.Equal("Equivalent", binding.Spec.MatchResources.MatchPolicy);
        Assert.NotNull(binding.Spec.MatchResources.ObjectSelector);
        Assert.Equal("on", binding.Spec.MatchResources.NamespaceSelector.MatchLabels["guard"]);
    }

    [Fact]
    public async Task An_unregistered_policy_api_is_missing_from_discovery_and_its_urls_answer_404_as_before_kubernetes_1_30()
    {
        await using var cluster = await StartAsync();
        cluster.Api.UnregisterResource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies");
        cluster.Api.UnregisterResource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings");

        var resources = await cluster.Client.AdmissionregistrationV1.GetAPIResourcesAsync();
        var missing = await FailureOf(() => cluster.Client.AdmissionregistrationV1.ReadValidatingAdmissionPolicyAsync("p"));

        // The group itself stays: webhook configurations were served long before policies.
        Assert.Contains(resources.Resources, r => r.Name == "mutatingwebhookconfigurations");
        Assert.DoesNotContain(resources.Resources, r => r.Name.StartsWith("validatingadmissionpolic", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.NotFound, missing.Code);
    }

    private static V1ConfigMap ConfigMap(string name, params (string Key, string Value)[] data) =>
        new() { Metadata = new V1ObjectMeta { Name = name }, Data = data.ToDictionary(d => d.Key, d => d.Value) };

    private static V1ValidatingAdmissionPolicy Policy(string expression, bool paramKind = false) => new()
    {
        Metadata = new V1ObjectMeta { Name = "p" },
        Spec = new V1ValidatingAdmissionPolicySpec
        {
            ParamKind = paramKind ? new V1ParamKind { ApiVersion = "v1", Kind = "ConfigMap" } : null,
            MatchConstraints = new V1MatchResources
            {
                ResourceRules = [new V1NamedRuleWithOperations { ApiGroups = [""], ApiVersions = ["v1"], Operations = ["CREATE"], Resources = ["configmaps"] }],
            },
            Validations = [new V1Validation { Expression = expression, Message = "no forbidden key", Reason = "Forbidden" }],
        },
    };

    private static V1ValidatingAdmissionPolicyBinding Binding(V1ParamRef? paramRef) => new()
    {
        Metadata = new V1ObjectMeta { Name = "b" },
        Spec = new V1ValidatingAdmissionPolicyBindingSpec
        {
            PolicyName = "p",
            ValidationActions = ["Deny"],
            ParamRef = paramRef,
            MatchResources = new V1MatchResources { NamespaceSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["guard"] = "on" } } },
        },
    };
}
