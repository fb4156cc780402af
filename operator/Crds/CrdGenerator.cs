using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using k8s.Models;
using Tollgate.Core.Api.V1Alpha1;

namespace Tollgate.Operator.Crds;

/// <summary>
/// Generates the CustomResourceDefinitions in <c>crds/</c> from the C# API types: KubeOps' transpiler and kubebuilder's
/// controller-gen in one small class. The types are the source of truth; a test fails when <c>crds/</c> drifts from them.
/// </summary>
internal static class CrdGenerator
{
    /// <summary>How to bring <c>crds/</c> up to date, quoted by the drift test and written into every file.</summary>
    public const string RegenerateCommand = "dotnet run --project operator -- generate-crds crds/";

    public const string KustomizationFile = "kustomization.yaml";

    /// <summary>Every kind the operator serves, in the order kustomize lists them.</summary>
    public static IReadOnlyList<Type> Entities { get; } = [typeof(AiBudget), typeof(AiRoutingRule)];

    private static readonly string Header =
        $"# Generated from core/Api/V1Alpha1 by `{RegenerateCommand}`. Do not edit:\n"
        + "# change the C# types (attributes and XML docs) and regenerate; a test fails when the two disagree.\n";

    /// <summary>The file a kind's CRD is written to, named as kubebuilder names it.</summary>
    public static string FileName(Type entity) => $"{Entity(entity).Group}_{Entity(entity).PluralName}.yaml";

    /// <summary>Every file of <c>crds/</c>, by name, with the text it must have.</summary>
    public static IReadOnlyDictionary<string, string> Render()
    {
        var builder = new SchemaBuilder(ApiDocs.Load());
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entity in Entities)
        {
            files[FileName(entity)] = Header + "---\n" + YamlWriter.Write(Build(entity, builder));
        }

        var kustomization = new JsonObject
        {
            ["apiVersion"] = "kustomize.config.k8s.io/v1beta1",
            ["kind"] = "Kustomization",
            ["resources"] = new JsonArray([.. Entities.Select(e => JsonValue.Create(FileName(e)))]),
        };
        files[KustomizationFile] = Header + YamlWriter.Write(kustomization);
        return files;
    }

    /// <summary>Writes every file of <c>crds/</c> into <paramref name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        foreach (var (name, text) in Render())
        {
            var path = Path.Combine(directory, name);
            File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            written.Add(path);
        }

        return written;
    }

    /// <summary>One kind's CustomResourceDefinition as a JSON tree.</summary>
    public static JsonObject Build(Type entity) => Build(entity, new SchemaBuilder(ApiDocs.Load()));

    private static JsonObject Build(Type entity, SchemaBuilder builder)
    {
        var meta = Entity(entity);
        var names = new JsonObject
        {
            ["kind"] = meta.Kind,
            ["listKind"] = meta.Kind + "List",
            ["plural"] = meta.PluralName,
            ["singular"] = meta.Kind.ToLowerInvariant(),
        };
        if (entity.GetCustomAttribute<ShortNamesAttribute>() is { } shortNames)
        {
            names["shortNames"] = Strings(shortNames.Names);
        }

        if (entity.GetCustomAttribute<CategoriesAttribute>() is { } categories)
        {
            names["categories"] = Strings(categories.Names);
        }

        var version = new JsonObject
        {
            ["name"] = meta.ApiVersion,
            ["schema"] = new JsonObject { ["openAPIV3Schema"] = builder.ForEntity(entity) },
            ["served"] = true,
            ["storage"] = true,
        };

        var columns = entity.GetCustomAttributes<PrinterColumnAttribute>().Select(Column).ToArray();
        if (columns.Length > 0)
        {
            version["additionalPrinterColumns"] = new JsonArray(columns);
        }

        // Status is written through its own endpoint, so a user's apply never clobbers it and the operator's status
        // writes never bump metadata.generation (which is how the reconcilers tell their own writes from a user's).
        if (entity.GetProperty("Status") is not null)
        {
            version["subresources"] = new JsonObject { ["status"] = new JsonObject() };
        }

        return new JsonObject
        {
            ["apiVersion"] = "apiextensions.k8s.io/v1",
            ["kind"] = "CustomResourceDefinition",
            ["metadata"] = new JsonObject { ["name"] = $"{meta.PluralName}.{meta.Group}" },
            ["spec"] = new JsonObject
            {
                ["group"] = meta.Group,
                ["names"] = names,
                ["scope"] = (entity.GetCustomAttribute<EntityScopeAttribute>()?.Scope ?? EntityScope.Namespaced).ToString(),
                ["versions"] = new JsonArray(version),
            },
        };
    }

    private static JsonNode Column(PrinterColumnAttribute column)
    {
        var node = new JsonObject
        {
            ["jsonPath"] = column.JsonPath,
            ["name"] = column.Name,
            ["type"] = column.Type.ToString().ToLowerInvariant(),
        };
        if (column.Description is { } description)
        {
            node["description"] = description;
        }

        if (column.Priority != 0)
        {
            node["priority"] = column.Priority;
        }

        return node;
    }

    private static KubernetesEntityAttribute Entity(Type entity) =>
        entity.GetCustomAttribute<KubernetesEntityAttribute>()
        ?? throw new InvalidOperationException($"{entity.Name} has no [KubernetesEntity]");

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => JsonValue.Create(v))]);
}
