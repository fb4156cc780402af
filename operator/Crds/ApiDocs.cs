using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Tollgate.Operator.Crds;

/// <summary>
/// The XML <c>&lt;summary&gt;</c> of every API type and property, read from the C# sources of <c>core/Api/V1Alpha1</c>
/// that this assembly embeds. The doc comments are the one place a field is described, as kubebuilder's controller-gen
/// reads Go comments: a description attribute beside each of them would drift from it.
/// </summary>
/// <remarks>
/// NOTE: it may seem simpler to read Core's XML documentation file. HOWEVER Core does not produce one (with it, every
/// public member without docs would break the warnings-as-errors build), and a file beside the assembly is one more
/// thing a published image could miss; the embedded sources travel inside Tollgate.Operator.dll.
/// </remarks>
internal sealed partial class ApiDocs
{
    private const string ResourcePrefix = "Tollgate.Operator.Crds.ApiSource/";

    private readonly Dictionary<string, string> _summaries;

    private ApiDocs(Dictionary<string, string> summaries) => _summaries = summaries;

    public static ApiDocs Load()
    {
        var assembly = typeof(ApiDocs).Assembly;
        var summaries = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)).ToList();
        if (names.Count == 0)
        {
            throw new InvalidOperationException($"{assembly.GetName().Name} embeds no API sources (see Operator.csproj)");
        }

        foreach (var name in names.Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            Collect(name, reader.ReadToEnd(), summaries);
        }

        return new ApiDocs(summaries);
    }

    /// <summary>The summary of a type, as one line of plain text, or null when it has none.</summary>
    public string? Of(Type type) => _summaries.GetValueOrDefault(type.Name) is { } xml ? Render(xml, type) : null;

    /// <summary>The summary of a property, as one line of plain text, or null when it has none.</summary>
    public string? Of(PropertyInfo property) =>
        _summaries.GetValueOrDefault($"{property.DeclaringType!.Name}.{property.Name}") is { } xml ? Render(xml, property.DeclaringType) : null;

    private static void Collect(string resource, string source, Dictionary<string, string> summaries)
    {
        var doc = new StringBuilder();
        string? type = null;
        foreach (var raw in source.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("///", StringComparison.Ordinal))
            {
                doc.Append(line.AsSpan(3)).Append('\n');
                continue;
            }

            if (!line.StartsWith("public ", StringComparison.Ordinal)
                && !line.StartsWith("internal ", StringComparison.Ordinal)
                && !line.StartsWith("private ", StringComparison.Ordinal))
            {
                // Attributes, blank lines and braces sit between a comment and its member without ending the comment.
                continue;
            }

            string? key = null;
            if (TypeDeclaration().Match(line) is { Success: true } typeMatch)
            {
                type = typeMatch.Groups["name"].Value;
                key = type;
            }
            else if (PropertyDeclaration().Match(line) is { Success: true } propertyMatch && type is not null)
            {
                key = $"{type}.{propertyMatch.Groups["name"].Value}";
            }

            if (key is not null && doc.Length > 0 && !summaries.TryAdd(key, doc.ToString()))
            {
                throw new InvalidOperationException($"{resource}: {key} is documented twice");
            }

            doc.Clear();
        }
    }

    private static string? Render(string xml, Type context)
    {
        var root = XElement.Parse($"<doc>{xml}</doc>", LoadOptions.PreserveWhitespace);
        if (root.Element("summary") is not { } summary)
        {
            return null;
        }

        var text = new StringBuilder();
        foreach (var node in summary.Nodes())
        {
            text.Append(node switch
            {
                XText t => t.Value,
                XElement { Name.LocalName: "see" } see => Cref(see, context),
                XElement element => element.Value,
                _ => string.Empty,
            });
        }

        return Whitespace().Replace(text.ToString(), " ").Trim();
    }

    private static string Cref(XElement see, Type context)
    {
        if (see.Attribute("langword")?.Value is { } word)
        {
            return word;
        }

        var cref = see.Attribute("cref")?.Value ?? string.Empty;
        var name = cref[(cref.LastIndexOfAny(['.', ':']) + 1)..];

        // A sibling property is named as the document spells it (unit), not as C# does (Unit).
        return context.GetProperty(name) is not null ? JsonNamingPolicy.CamelCase.ConvertName(name) : name;
    }

    [GeneratedRegex(@"\b(class|record|struct|enum|interface)\s+(?<name>\w+)", RegexOptions.CultureInvariant)]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"^public\s+(?!(const|static|override|sealed|enum|class)\b)[\w<>?,\[\]\s]+?\s(?<name>\w+)\s*\{\s*get", RegexOptions.CultureInvariant)]
    private static partial Regex PropertyDeclaration();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();
}
