using System.Text.Json.Nodes;
using Tollgate.Core.Serialization;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Crds;

public sealed class CrdKustomizeTests
{
    [Fact]
    public async Task Kubectl_kustomize_builds_both_crds_with_scope_status_and_columns()
    {
        var output = await Kubectl.KustomizeTextAsync(CrdFiles.Directory);

        var crds = YamlJsonConverter.Parse(output).Select(d => Assert.IsType<JsonObject>(d.Root)).ToList();

        Assert.Equal(2, crds.Count);
        Assert.All(crds, crd => Assert.Equal("CustomResourceDefinition", crd["kind"]!.GetValue<string>()));
        var byKind = crds.ToDictionary(c => c["spec"]!["names"]!["kind"]!.GetValue<string>(), StringComparer.Ordinal);
        Assert.Equal("Cluster", byKind["AiBudget"]["spec"]!["scope"]!.GetValue<string>());
        Assert.Equal("Namespaced", byKind["AiRoutingRule"]["spec"]!["scope"]!.GetValue<string>());
        foreach (var crd in crds)
        {
            var version = crd["spec"]!["versions"]![0]!;
            Assert.NotNull(version["subresources"]?["status"]);
            Assert.NotNull(version["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]);
        }

        Assert.Equal(
            ["Limit", "Spent", "Used", "Forecast", "State", "Unit", "Period", "Enforcement", "Ready", "Age"],
            byKind["AiBudget"]["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
        Assert.Equal(
            ["Priority", "Provider", "Model", "Fallback", "Ready", "Age"],
            byKind["AiRoutingRule"]["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
    }
}
