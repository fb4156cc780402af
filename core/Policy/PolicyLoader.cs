using System.Text.Json.Nodes;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Serialization;

namespace Tollgate.Core.Policy;

/// <summary>
/// Reads AiBudget and AiRoutingRule manifests from a YAML file or a folder of them: the same multi-document YAML a user
/// would <c>kubectl apply</c>. Objects of other API groups (a Namespace in the same file, say) are skipped and reported.
/// One loader serves the standalone meter and, through the operator's ConfigMaps, the sidecar.
/// </summary>
public static class PolicyLoader
{
    /// <summary>Loads and compiles a policy file or folder; throws <see cref="DocumentException"/> listing every problem.</summary>
    public static PolicySnapshot LoadSnapshot(string path)
    {
        var documents = Load(path);
        return PolicyCompiler.Compile(documents, path);
    }

    public static PolicyDocuments Load(string path)
    {
        var files = ListFiles(path);
        var budgets = new List<AiBudget>();
        var rules = new List<AiRoutingRule>();
        var ignored = new List<string>();
        var errors = new List<DocumentError>();
        foreach (var file in files)
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add(new DocumentError(file, null, null, null, null, $"cannot read the policy file: {ex.Message}"));
                continue;
            }

            try
            {
                Parse(file, text, budgets, rules, ignored, errors);
            }
            catch (DocumentException ex)
            {
                errors.AddRange(ex.Errors);
            }
        }

        if (errors.Count > 0)
        {
            throw new DocumentException(errors);
        }

        return new PolicyDocuments(budgets, rules, ignored);
    }

    /// <summary>Parses one file's text (exposed for tests and for ConfigMap contents).</summary>
    public static PolicyDocuments Parse(string file, string text)
    {
        var budgets = new List<AiBudget>();
        var rules = new List<AiRoutingRule>();
        var ignored = new List<string>();
        var errors = new List<DocumentError>();
        Parse(file, text, budgets, rules, ignored, errors);
        if (errors.Count > 0)
        {
            throw new DocumentException(errors);
        }

        return new PolicyDocuments(budgets, rules, ignored);
    }

    private static void Parse(string file, string text, List<AiBudget> budgets, List<AiRoutingRule> rules, List<string> ignored, List<DocumentError> errors)
    {
        var documents = DocumentReader.ParseYaml(file, text);
        for (var i = 0; i < documents.Count; i++)
        {
            var document = documents[i];
            var index = i + 1;
            if (document.Root is null)
            {
                continue;
            }

            if (document.Root is not JsonObject root)
            {
                errors.Add(new DocumentError(file, index, null, null, document.StartLine, "a document must be a mapping with apiVersion, kind, metadata and spec"));
                continue;
            }

            var apiVersion = (root["apiVersion"] as JsonValue)?.TryGetValue<string>(out var v) == true ? v : null;
            var kind = (root["kind"] as JsonValue)?.TryGetValue<string>(out var k) == true ? k : null;
            var name = root["metadata"] is JsonObject metadata && metadata["name"] is JsonValue nameValue && nameValue.TryGetValue<string>(out var n) ? n : null;
            var label = kind is null ? null : name is null ? kind : $"{kind} \"{name}\"";

            if (apiVersion is null)
            {
                errors.Add(new DocumentError(file, index, label, "apiVersion", document.LineOf(string.Empty), $"is required (use {ApiGroup.ApiVersion})"));
                continue;
            }

            if (!apiVersion.StartsWith(ApiGroup.Name + "/", StringComparison.Ordinal))
            {
                ignored.Add($"{file}: document {index} ({apiVersion} {kind} \"{name}\") is not a Tollgate object; skipped");
                continue;
            }

            if (apiVersion != ApiGroup.ApiVersion)
            {
                errors.Add(new DocumentError(file, index, label, "apiVersion", document.LineOf("apiVersion"),
                    $"unsupported version \"{apiVersion}\" (this build reads {ApiGroup.ApiVersion})"));
                continue;
            }

            try
            {
                switch (kind)
                {
                    case AiBudget.KindName:
                        budgets.Add(Annotate(DocumentReader.Bind(file, index, label, document, root, PolicyJsonContext.Default.AiBudget), file, index, document));
                        break;
                    case AiRoutingRule.KindName:
                        rules.Add(Annotate(DocumentReader.Bind(file, index, label, document, root, PolicyJsonContext.Default.AiRoutingRule), file, index, document));
                        break;
                    default:
                        errors.Add(new DocumentError(file, index, label, "kind", document.LineOf("kind"),
                            $"unsupported kind \"{kind}\" (expected {AiBudget.KindName} or {AiRoutingRule.KindName})"));
                        break;
                }
            }
            catch (DocumentException ex)
            {
                errors.AddRange(ex.Errors);
            }
        }
    }

    private static T Annotate<T>(T entity, string file, int index, YamlJsonDocument document)
        where T : k8s.IKubernetesObject<k8s.Models.V1ObjectMeta>
    {
        // Remembered so the compiler can point its own errors at the right file, document and line.
        SourceMap.Remember(entity, new SourceLocation(file, index, document));
        return entity;
    }

    private static IReadOnlyList<string> ListFiles(string path)
    {
        if (Directory.Exists(path))
        {
            return
            [
                .. Directory.EnumerateFiles(path, "*", SearchOption.TopDirectoryOnly)
                    .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal),
            ];
        }

        if (File.Exists(path))
        {
            return [path];
        }

        throw new DocumentException(new DocumentError(path, null, null, null, null, "no such policy file or folder"));
    }
}
