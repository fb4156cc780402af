using System.Text.Json.Nodes;
using Tollgate.Core.Serialization;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Crds;

/// <summary>The checked-in CRDs, read as the cluster would get them: the drift test keeps them equal to the generator's.</summary>
internal static class CrdFiles
{
    public static string Directory => Path.Combine(RepositoryPaths.Root(), "crds");

    public static JsonObject Crd(string kind)
    {
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.yaml").Order(StringComparer.Ordinal))
        {
            foreach (var document in YamlJsonConverter.Parse(File.ReadAllText(file)))
            {
                if (document.Root is JsonObject { } root && root["kind"]?.GetValue<string>() == "CustomResourceDefinition"
                    && root["spec"]?["names"]?["kind"]?.GetValue<string>() == kind)
                {
                    return root;
                }
            }
        }

        throw new InvalidOperationException($"no CRD for {kind} in {Directory}");
    }

    public static JsonObject Schema(string kind) => (JsonObject)Crd(kind)["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;
}
