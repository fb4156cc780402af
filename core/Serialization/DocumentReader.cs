using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using YamlDotNet.Core;

namespace Tollgate.Core.Serialization;

/// <summary>Reads YAML documents into strictly typed objects, turning every failure into a <see cref="DocumentError"/>.</summary>
public static class DocumentReader
{
    /// <summary>Parses a YAML stream; a syntax error becomes a <see cref="DocumentException"/> naming file and line.</summary>
    public static IReadOnlyList<YamlJsonDocument> ParseYaml(string file, string text)
    {
        try
        {
            return YamlJsonConverter.Parse(text);
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException?.Message ?? ex.Message;
            throw new DocumentException(new DocumentError(file, null, null, null, (int)ex.Start.Line, $"invalid YAML: {Trim(message)}"));
        }
    }

    /// <summary>
    /// Binds a JSON tree to <typeparamref name="T"/>, reporting a type error at its field and YAML line. The type
    /// information comes from a source-generated context with the options of <see cref="ModelJson.Strict"/>.
    /// </summary>
    public static T Bind<T>(string file, int? documentIndex, string? objectName, YamlJsonDocument document, JsonNode node, JsonTypeInfo<T> type, string basePath = "")
    {
        try
        {
            return node.Deserialize(type)
                ?? throw new JsonException("the document is empty");
        }
        catch (JsonException ex)
        {
            var field = FieldOf(ex.Path, basePath);
            var message = Describe(ex);
            throw new DocumentException(new DocumentError(file, documentIndex, objectName, field, document.LineOf(field ?? basePath), message));
        }
    }

    private static string? FieldOf(string? jsonPath, string basePath)
    {
        if (string.IsNullOrEmpty(jsonPath) || jsonPath == "$")
        {
            return basePath.Length == 0 ? null : basePath;
        }

        var relative = jsonPath.StartsWith("$.", StringComparison.Ordinal) ? jsonPath[2..] : jsonPath.TrimStart('$');
        relative = relative.Replace("['", ".", StringComparison.Ordinal).Replace("']", string.Empty, StringComparison.Ordinal);
        return basePath.Length == 0 ? relative : basePath + "." + relative;
    }

    private static string Describe(JsonException ex)
    {
        var message = ex.Message;
        if (message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            return "unknown field (check its spelling and indentation)";
        }

        if (message.Contains("could not be converted to", StringComparison.Ordinal))
        {
            return $"has the wrong type (expected {FriendlyType(message)})";
        }

        return Trim(message);
    }

    private static string FriendlyType(string message) => message switch
    {
        _ when message.Contains("System.Decimal", StringComparison.Ordinal) => "a number",
        _ when message.Contains("System.Int32", StringComparison.Ordinal) || message.Contains("System.Int64", StringComparison.Ordinal) => "a whole number",
        _ when message.Contains("System.Double", StringComparison.Ordinal) => "a number",
        _ when message.Contains("System.Boolean", StringComparison.Ordinal) => "true or false",
        _ when message.Contains("System.String", StringComparison.Ordinal) => "a string (quote numbers and booleans used as text)",
        _ when message.Contains("List`1", StringComparison.Ordinal) => "a list",
        _ when message.Contains("Dictionary`2", StringComparison.Ordinal) => "a map of strings",
        _ => "an object",
    };

    private static string Trim(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }
}
