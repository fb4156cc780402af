using System.Text.Json.Nodes;
using k8s;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Admission;

/// <summary>config/admission ships exactly the policy and binding the operator reconciles, so apply and reconcile never fight.</summary>
public sealed class ShippedPolicyTests
{
    [Fact]
    public void Shipped_policy_and_binding_equal_what_the_operator_reconciles()
    {
        var path = Path.Combine(RepositoryPaths.Root(), "config", "admission", "validating_admission_policy.yaml");
        var shipped = KubernetesYaml.LoadAllFromString(File.ReadAllText(path)).Select(o => JsonNode.Parse(KubernetesJson.Serialize(o))!).ToList();
        var expected = new object[] { AdmissionPolicy.Policy(), AdmissionPolicy.Binding("tollgate-system") }
            .Select(o => JsonNode.Parse(KubernetesJson.Serialize(o))!).ToList();

        if (!shipped.Zip(expected).All(pair => JsonNode.DeepEquals(pair.First, pair.Second)) || shipped.Count != expected.Count)
        {
            var rendered = string.Join("\n---\n", new object[] { AdmissionPolicy.Policy(), AdmissionPolicy.Binding("tollgate-system") }.Select(o => KubernetesYaml.Serialize(o)));
            File.WriteAllText(Path.Combine(Path.GetTempPath(), "validating_admission_policy.expected.yaml"), rendered);
            Assert.Fail($"{path} differs from AdmissionPolicy.Policy()/Binding(); the operator's rendering is in {Path.GetTempPath()}validating_admission_policy.expected.yaml");
        }
    }
}
