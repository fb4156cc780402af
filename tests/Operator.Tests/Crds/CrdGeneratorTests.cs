using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Operator.Crds;

namespace Tollgate.Operator.Tests.Crds;

/// <summary>Properties of the generated CRDs that hold for every field, so a new field is checked without a new test.</summary>
public sealed partial class CrdGeneratorTests
{
    [Theory]
    [InlineData("AiBudget", "Cluster", "aibudgets.tollgate.io", "aib")]
    [InlineData("AiRoutingRule", "Namespaced", "airoutingrules.tollgate.io", "airr")]
    public void Kinds_have_the_contract_scope_names_and_a_status_subresource(string kind, string scope, string name, string shortName)
    {
        var crd = CrdFiles.Crd(kind);
        var spec = crd["spec"]!;
        var version = Assert.Single(spec["versions"]!.AsArray())!;

        Assert.Equal(name, crd["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("tollgate.io", spec["group"]!.GetValue<string>());
        Assert.Equal(scope, spec["scope"]!.GetValue<string>());
        Assert.Equal(shortName, Assert.Single(spec["names"]!["shortNames"]!.AsArray())!.GetValue<string>());
        Assert.Equal("v1alpha1", version["name"]!.GetValue<string>());
        Assert.True(version["served"]!.GetValue<bool>() && version["storage"]!.GetValue<bool>());
        Assert.NotNull(version["subresources"]?["status"]);
    }

    [Fact]
    public void Budget_columns_show_limit_spent_used_forecast_state_and_age()
    {
        var columns = Columns("AiBudget").Where(c => c["priority"] is null).Select(c => c["name"]!.GetValue<string>());

        Assert.Equal(["Limit", "Spent", "Used", "Forecast", "State", "Age"], columns);
    }

    [Theory]
    [InlineData("AiBudget")]
    [InlineData("AiRoutingRule")]
    public void Printer_columns_read_fields_the_schema_has(string kind)
    {
        var schema = CrdFiles.Schema(kind);
        foreach (var column in Columns(kind))
        {
            var jsonPath = column["jsonPath"]!.GetValue<string>();
            if (jsonPath.StartsWith(".metadata.", StringComparison.Ordinal))
            {
                continue;
            }

            // [0] and [?(...)] both step into the list's items.
            JsonNode? node = schema;
            foreach (var step in JsonPathStep().Matches(jsonPath).Select(m => m.Value))
            {
                node = step.StartsWith('[') ? node?["items"] : node?["properties"]?[step.TrimStart('.')];
            }

            Assert.True(node is not null, $"{kind} column {column["name"]} reads {jsonPath}, which the schema does not have");
            var type = column["type"]!.GetValue<string>();
            Assert.Equal(type == "integer" ? "integer" : type, node["type"]!.GetValue<string>());
        }
    }

    [Theory]
    [InlineData("AiBudget")]
    [InlineData("AiRoutingRule")]
    public void Every_spec_and_status_field_is_described(string kind)
    {
        var missing = new List<string>();
        var root = CrdFiles.Schema(kind);
        Assert.False(string.IsNullOrWhiteSpace(root["description"]?.GetValue<string>()));
        foreach (var part in new[] { "spec", "status" })
        {
            Walk(root["properties"]![part]!.AsObject(), part, missing);
        }

        Assert.True(missing.Count == 0, $"add an XML <summary> in core/Api/V1Alpha1 for: {string.Join(", ", missing)}");
    }

    [Theory]
    [InlineData("AiBudget")]
    [InlineData("AiRoutingRule")]
    public void Schema_enums_are_exactly_what_the_policy_compiler_accepts(string kind)
    {
        var enums = new List<(string Path, string[] Values)>();
        FindEnums(CrdFiles.Schema(kind)["properties"]!["spec"]!.AsObject(), "spec", enums);
        Assert.NotEmpty(enums);

        foreach (var (path, values) in enums)
        {
            foreach (var value in values)
            {
                var accepted = Manifests.Compile(Manifests.With(Manifests.Full(kind), new JsonObject { [path] = value }));
                Assert.True(!accepted.Any(e => e.Field == path), $"{path}: the schema allows \"{value}\" but the compiler refuses it: {string.Join("; ", accepted)}");
            }

            var refused = Manifests.Compile(Manifests.With(Manifests.Full(kind), new JsonObject { [path] = "not-a-" + path.Split('.')[^1] }));
            Assert.True(refused.Any(e => e.Field == path), $"{path}: the compiler accepts a value outside the schema's enum");
        }
    }

    [Fact]
    public void Unsupported_property_types_fail_generation_instead_of_guessing()
    {
        var builder = new SchemaBuilder(ApiDocs.Load());

        Assert.Throws<NotSupportedException>(() => builder.ForEntity(typeof(Unsupported)));
    }

    private static IEnumerable<JsonObject> Columns(string kind) =>
        CrdFiles.Crd(kind)["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Cast<JsonObject>();

    private static void Walk(JsonObject schema, string path, List<string> missing)
    {
        if (schema["description"] is null)
        {
            missing.Add(path);
        }

        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, child) in properties)
            {
                Walk(child!.AsObject(), $"{path}.{name}", missing);
            }
        }

        if (schema["items"] is JsonObject { } items && items["properties"] is not null)
        {
            Walk(items, path + "[]", missing);
        }
    }

    private static void FindEnums(JsonObject schema, string path, List<(string, string[])> found)
    {
        if (schema["enum"] is JsonArray values)
        {
            found.Add((path, [.. values.Select(v => v!.GetValue<string>())]));
        }

        foreach (var (name, child) in schema["properties"] as JsonObject ?? [])
        {
            FindEnums(child!.AsObject(), $"{path}.{name}", found);
        }

        if (schema["items"] is JsonObject items)
        {
            FindEnums(items, path + "[0]", found);
        }
    }

    [GeneratedRegex(@"\.\w+|\[[^\]]*\]", RegexOptions.CultureInvariant)]
    private static partial Regex JsonPathStep();

    private sealed class Unsupported
    {
        public Guid Id { get; set; }
    }
}
