using YamlDotNet.RepresentationModel;

namespace Tollgate.Docs.Tests.Running;

/// <summary>Just enough YAML reading for rendered manifests and CRDs.</summary>
public static class Yaml
{
    public static IReadOnlyList<YamlNode> Parse(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return [.. stream.Documents.Select(d => d.RootNode).Where(n => n is YamlMappingNode)];
    }

    public static IReadOnlyList<YamlNode> Documents(string path) => Parse(File.ReadAllText(path));

    /// <summary>The scalar at <paramref name="path"/> below <paramref name="node"/>, or null.</summary>
    public static string? Scalar(YamlNode node, params string[] path)
    {
        var current = node;
        foreach (var key in path)
        {
            if (current is not YamlMappingNode mapping || !mapping.Children.TryGetValue(new YamlScalarNode(key), out var next))
            {
                return null;
            }

            current = next;
        }

        return (current as YamlScalarNode)?.Value;
    }
}
