using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tollgate.Core.Serialization;

/// <summary>
/// Turns YAML documents into JSON trees, so that one System.Text.Json model serves both the files users write and the
/// objects the Kubernetes API returns. Scalars follow the YAML 1.2 core schema (plain <c>true</c>, <c>42</c>, <c>null</c>
/// are typed; quoted scalars are always strings), and every JSON path remembers the YAML line it came from so errors
/// can point at it.
/// </summary>
public static class YamlJsonConverter
{
    /// <summary>Parses every document of a YAML stream.</summary>
    /// <exception cref="YamlException">The text is not valid YAML.</exception>
    public static IReadOnlyList<YamlJsonDocument> Parse(string yaml)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(yaml))
        {
            stream.Load(reader);
        }

        var documents = new List<YamlJsonDocument>(stream.Documents.Count);
        foreach (var document in stream.Documents)
        {
            var lines = new Dictionary<string, int>(StringComparer.Ordinal);
            var root = Convert(document.RootNode, string.Empty, lines);
            documents.Add(new YamlJsonDocument(root, (int)document.RootNode.Start.Line, lines));
        }

        return documents;
    }

    private static JsonNode? Convert(YamlNode node, string path, Dictionary<string, int> lines)
    {
        lines[path] = (int)node.Start.Line;
        switch (node)
        {
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                foreach (var (keyNode, valueNode) in mapping.Children)
                {
                    var key = keyNode is YamlScalarNode { Value: { } k } ? k : keyNode.ToString();
                    var childPath = path.Length == 0 ? key : path + "." + key;
                    obj[key] = Convert(valueNode, childPath, lines);
                }

                return obj;
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                var i = 0;
                foreach (var item in sequence.Children)
                {
                    array.Add(Convert(item, $"{path}[{i++}]", lines));
                }

                return array;
            case YamlScalarNode scalar:
                return ConvertScalar(scalar);
            default:
                return null;
        }
    }

    private static JsonValue? ConvertScalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? string.Empty;
        if (scalar.Style != ScalarStyle.Plain)
        {
            return JsonValue.Create(value);
        }

        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (decimal.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out var number))
        {
            return JsonValue.Create(number);
        }

        return JsonValue.Create(value);
    }
}
