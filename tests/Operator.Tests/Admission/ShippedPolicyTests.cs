using System.Text.Json.Nodes;
using k8s;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Admission;

/// <summary>
/// config/admission ships exactly the policy the operator reconciles, so apply and reconcile never fight, and nothing
/// else: the binding (which denies while the parameters are missing) and the parameters are the operator's to write.
/// </summary>
public sealed class ShippedPolicyTests
{
    [Fact]
    public void Shipped_policy_equals_what_the_operator_reconciles_and_comes_without_binding_or_parameters()
    {
        var path = Path.Combine(RepositoryPaths.Root(), "config", "admission", "validating_admission_policy.yaml");
        var shipped = KubernetesYaml.LoadAllFromString(File.ReadAllText(path)).Select(o => JsonNode.Parse(KubernetesJson.Serialize(o))!).ToList();
        var expected = new object[] { AdmissionPolicy.Policy() }
            .Select(o => JsonNode.Parse(KubernetesJson.Serialize(o))!).ToList();

        if (!shipped.Zip(expected).All(pair => JsonNode.DeepEquals(pair.First, pair.Second)) || shipped.Count != expected.Count)
        {
            var rendered = KubernetesYaml.Serialize(AdmissionPolicy.Policy());
            File.WriteAllText(Path.Combine(Path.GetTempPath(), "validating_admission_policy.expected.yaml"), rendered);
            Assert.Fail($"{path} differs from AdmissionPolicy.Policy(); the operator's rendering is in {Path.GetTempPath()}validating_admission_policy.expected.yaml");
        }
    }
}
