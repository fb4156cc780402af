using System.Text.Json.Nodes;
using Tollgate.Core.Policy;
using Tollgate.Core.Serialization;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Crds;

/// <summary>What the API server would admit, judged against the generated schemas, and how that lines up with the meter's compiler.</summary>
public sealed class CrdSchemaTests
{
    private static string Samples => Path.Combine(RepositoryPaths.Root(), "config", "samples");

    [Fact]
    public void Every_sample_validates_against_its_crd()
    {
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        // kustomization.yaml lists the samples for `kubectl kustomize config/samples`; it is not a resource.
        foreach (var file in Directory.EnumerateFiles(Samples, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").Order(StringComparer.Ordinal))
        {
            var documents = YamlJsonConverter.Parse(File.ReadAllText(file));
            for (var i = 0; i < documents.Count; i++)
            {
                var root = Assert.IsType<JsonObject>(documents[i].Root);
                var kind = root["kind"]!.GetValue<string>();
                kinds.Add(kind);

                var errors = OpenApiValidator.Validate(CrdFiles.Schema(kind), root);

                Assert.True(errors.Count == 0, $"{Path.GetFileName(file)} document {i + 1} ({kind}):\n{string.Join('\n', errors)}");
            }
        }

        Assert.Equal(["AiBudget", "AiRoutingRule"], kinds.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Samples_also_compile_as_meter_policy()
    {
        var snapshot = PolicyLoader.LoadSnapshot(Samples);

        Assert.NotEmpty(snapshot.Budgets);
    }

    [Theory]
    [InlineData("AiBudget")]
    [InlineData("AiRoutingRule")]
    public void A_manifest_using_every_field_is_valid_for_both_the_schema_and_the_compiler(string kind)
    {
        var manifest = Manifests.Full(kind);

        Assert.Empty(OpenApiValidator.Validate(CrdFiles.Schema(kind), manifest));
        Assert.Empty(Manifests.Compile(manifest));
    }

    [Theory]
    // Missing required fields.
    [InlineData("AiBudget", """{ "spec": null }""", "spec", "is required", true)]
    [InlineData("AiBudget", """{ "spec.limit": null }""", "spec.limit", "is required", true)]
    [InlineData("AiBudget", """{ "spec.limit.amount": null }""", "spec.limit.amount", "is required", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets[0].model": null }""", "spec.route.targets[0].model", "is required", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets[0].provider": null }""", "spec.route.targets[0].provider", "is required", true)]
    [InlineData("AiRoutingRule", """{ "spec.match.namespaceSelector.matchExpressions[0].key": null }""", "spec.match.namespaceSelector.matchExpressions[0].key", "is required", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets": null }""", "spec.route.targets", "is required", true)]
    // Lists that must not be empty.
    [InlineData("AiRoutingRule", """{ "spec.route.targets": [] }""", "spec.route.targets", "must have at least 1 items", true)]
    [InlineData("AiRoutingRule", """{ "spec.match.models": [] }""", "spec.match.models", "must have at least 1 items", true)]
    [InlineData("AiBudget", """{ "spec.match.namespaces": [] }""", "spec.match.namespaces", "must have at least 1 items", true)]
    [InlineData("AiBudget", """{ "spec.match.subjects": [] }""", "spec.match.subjects", "must have at least 1 items", true)]
    [InlineData("AiBudget", """{ "spec.match.models": [] }""", "spec.match.models", "must have at least 1 items", true)]
    // Amounts and ranges.
    [InlineData("AiBudget", """{ "spec.limit.amount": -5 }""", "spec.limit.amount", "must be greater than 0", true)]
    [InlineData("AiBudget", """{ "spec.limit.amount": 0 }""", "spec.limit.amount", "must be greater than 0", true)]
    [InlineData("AiBudget", """{ "spec.alerts.thresholds": [75, 150] }""", "spec.alerts.thresholds[1]", "at most 100", true)]
    [InlineData("AiBudget", """{ "spec.alerts.thresholds": [0, 50] }""", "spec.alerts.thresholds[0]", "at least 1", true)]
    [InlineData("AiBudget", """{ "spec.alerts.thresholds": [75, 75] }""", "spec.alerts.thresholds[1]", "duplicate", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.retry.attempts": 11 }""", "spec.route.retry.attempts", "at most 10", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.circuitBreaker.failureRatio": 0 }""", "spec.route.circuitBreaker.failureRatio", "greater than 0", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.circuitBreaker.failureRatio": 1.5 }""", "spec.route.circuitBreaker.failureRatio", "at most 1", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.circuitBreaker.breakSeconds": 0 }""", "spec.route.circuitBreaker.breakSeconds", "at least 1", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.timeoutSeconds": 3601 }""", "spec.route.timeoutSeconds", "at most 3600", true)]
    [InlineData("AiRoutingRule", """{ "spec.limits.requestsPerMinute": 0 }""", "spec.limits.requestsPerMinute", "at least 1", true)]
    [InlineData("AiRoutingRule", """{ "spec.cache.ttlSeconds": 0 }""", "spec.cache.ttlSeconds", "at least 1", true)]
    // Unknown enum values.
    [InlineData("AiBudget", """{ "spec.enforcement": "warn" }""", "spec.enforcement", "unsupported value \"warn\"", true)]
    [InlineData("AiBudget", """{ "spec.limit.unit": "eur" }""", "spec.limit.unit", "unsupported value \"eur\"", true)]
    [InlineData("AiBudget", """{ "spec.limit.period": "hour" }""", "spec.limit.period", "unsupported value \"hour\"", true)]
    [InlineData("AiBudget", """{ "spec.failurePolicy": "ignore" }""", "spec.failurePolicy", "unsupported value \"ignore\"", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets[0].provider": "azure" }""", "spec.route.targets[0].provider", "unsupported value \"azure\"", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.retry.backoff": "linear" }""", "spec.route.retry.backoff", "unsupported value \"linear\"", true)]
    [InlineData("AiRoutingRule", """{ "spec.match.namespaceSelector.matchExpressions[0].operator": "Has" }""", "spec.match.namespaceSelector.matchExpressions[0].operator", "unsupported value \"Has\"", true)]
    // Patterns.
    [InlineData("AiBudget", """{ "spec.appliesPer": ["branch"] }""", "spec.appliesPer[0]", "does not match", true)]
    [InlineData("AiBudget", """{ "spec.match.subjects": ["payments"] }""", "spec.match.subjects[0]", "does not match", true)]
    [InlineData("AiBudget", """{ "spec.match.namespaces": ["CI_Payments"] }""", "spec.match.namespaces[0]", "does not match", true)]
    [InlineData("AiBudget", """{ "spec.match.models": ["  "] }""", "spec.match.models[0]", "does not match", true)]
    [InlineData("AiBudget", """{ "spec.message.dashboardUrl": "grafana/d/budgets" }""", "spec.message.dashboardUrl", "does not match", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets[0].baseUrl": "https://api.example.com/v1?key=1" }""", "spec.route.targets[0].baseUrl", "does not match", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets[0].apiKeySecretRef.name": "../etc" }""", "spec.route.targets[0].apiKeySecretRef.name", "does not match", true)]
    // Types and spelling.
    [InlineData("AiBudget", """{ "spec.limit.amount": "fifty" }""", "spec.limit.amount", "must be a number", true)]
    [InlineData("AiBudget", """{ "spec.priority": 1.5 }""", "spec.priority", "must be an integer", true)]
    [InlineData("AiBudget", """{ "spec.hardcap": true }""", "spec.hardcap", "unknown field", true)]
    // CEL rules.
    [InlineData("AiBudget", """{ "spec.alerts.thresholds": [90, 75] }""", "spec.alerts.thresholds", "thresholds must be in ascending order", true)]
    [InlineData("AiBudget", """{ "spec.hardCap": true, "spec.enforcement": "audit" }""", "spec", "hardCap cannot be true when enforcement is audit", true)]
    [InlineData("AiRoutingRule", """{ "spec.fallback.onBudgetExceeded": { "model": "claude-haiku-4-5", "response": "Budget spent." } }""", "spec.fallback.onBudgetExceeded", "set exactly one of model or response", true)]
    [InlineData("AiRoutingRule", """{ "spec.fallback.onBudgetExceeded": {} }""", "spec.fallback.onBudgetExceeded", "set exactly one of model or response", true)]
    [InlineData("AiRoutingRule", """{ "spec.match.namespaceSelector.matchExpressions[0].values": [] }""", "spec.match.namespaceSelector.matchExpressions[0]", "values must not be empty", true)]
    [InlineData("AiRoutingRule", """{ "spec.route.targets[0].apiKeySecretRef.key": ".." }""", "spec.route.targets[0].apiKeySecretRef", "key must not be . or ..", true)]
    public void Bad_manifests_are_rejected_naming_the_field(string kind, string edits, string path, string message, bool compilerRejectsToo)
    {
        var manifest = Manifests.With(Manifests.Full(kind), JsonNode.Parse(edits)!.AsObject());

        var errors = OpenApiValidator.Validate(CrdFiles.Schema(kind), manifest);

        Assert.Contains(errors, e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal));

        // The schema may be stricter than the compiler (it refuses what kubectl users should not write), but what the
        // compiler refuses, the schema must refuse too: the operator must never compile an admitted object into an error.
        var compiled = Manifests.Compile(manifest);
        if (compilerRejectsToo)
        {
            Assert.Contains(compiled, e => e.Field is { } field && field.StartsWith(path, StringComparison.Ordinal));
        }
        else
        {
            Assert.Empty(compiled);
        }
    }

    [Fact]
    public void Every_list_in_both_crds_refuses_to_be_empty_unless_empty_has_a_meaning()
    {
        // Each exception is a list whose empty value means something on purpose; any new list must choose.
        string[] emptyMeansSomething =
        [
            "AiBudget spec.appliesPer", // one shared counter
            "AiBudget spec.alerts.thresholds", // no alerts
            "AiBudget spec.match.namespaceSelector.matchExpressions", // no requirement beyond matchLabels
            "AiBudget spec.match.namespaceSelector.matchExpressions[].values", // Exists/DoesNotExist (a CEL rule covers In/NotIn)
            "AiBudget status.conditions",
            "AiRoutingRule spec.match.namespaceSelector.matchExpressions",
            "AiRoutingRule spec.match.namespaceSelector.matchExpressions[].values",
            "AiRoutingRule status.conditions",
        ];
        var unguarded = new List<string>();
        foreach (var kind in new[] { "AiBudget", "AiRoutingRule" })
        {
            Arrays(CrdFiles.Schema(kind), string.Empty, (path, array) =>
            {
                if (array["minItems"] is null)
                {
                    unguarded.Add($"{kind} {path}");
                }
            });
        }

        Assert.Equal(emptyMeansSomething.Order(StringComparer.Ordinal), unguarded.Order(StringComparer.Ordinal));
        Assert.Contains("minItems: 1", File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "crds", "tollgate.io_airoutingrules.yaml")), StringComparison.Ordinal);
    }

    private static void Arrays(JsonObject schema, string path, Action<string, JsonObject> visit)
    {
        if (schema["type"]?.GetValue<string>() == "array")
        {
            visit(path, schema);
            if (schema["items"] is JsonObject items)
            {
                Arrays(items, path + "[]", visit);
            }
        }

        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, child) in properties)
            {
                Arrays((JsonObject)child!, path.Length == 0 ? name : $"{path}.{name}", visit);
            }
        }
    }

    [Fact]
    public void Thresholds_out_of_order_are_a_cel_rule_whose_mirror_rejects_them()
    {
        var thresholds = (JsonObject)CrdFiles.Schema("AiBudget")["properties"]!["spec"]!["properties"]!["alerts"]!["properties"]!["thresholds"]!;
        var rule = Assert.Single(thresholds["x-kubernetes-validations"]!.AsArray())!;

        Assert.Equal("self.isSorted()", rule["rule"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(rule["message"]?.GetValue<string>()));
        Assert.False(CelMirror.Evaluate("self.isSorted()", new JsonArray(90, 75)));
        Assert.True(CelMirror.Evaluate("self.isSorted()", new JsonArray(75, 90, 95, 100)));
        Assert.Equal(1, OpenApiValidator.Number(thresholds["items"]!["minimum"]!));
        Assert.Equal(100, OpenApiValidator.Number(thresholds["items"]!["maximum"]!));
    }

    [Fact]
    public void Every_cel_rule_has_a_message_and_a_csharp_mirror()
    {
        var rules = new List<JsonObject>();
        foreach (var kind in new[] { "AiBudget", "AiRoutingRule" })
        {
            Collect(CrdFiles.Schema(kind), rules);
        }

        Assert.NotEmpty(rules);
        Assert.All(rules, rule =>
        {
            Assert.False(string.IsNullOrWhiteSpace(rule["message"]?.GetValue<string>()), $"{rule["rule"]} has no message");
            Assert.Contains(rule["rule"]!.GetValue<string>(), CelMirror.Known);
        });

        // The required examples: ascending thresholds, a positive amount, exactly one fallback.
        var texts = rules.Select(r => r["rule"]!.GetValue<string>()).ToList();
        Assert.Contains("self.isSorted()", texts);
        Assert.Contains("self > 0.0", texts);
        Assert.Contains("has(self.model) != has(self.response)", texts);
    }

    [Fact]
    public void Defaults_fill_in_what_the_csharp_types_assume()
    {
        // Defaulted by the schema and then bound, a sparse manifest must mean what the same manifest means to the meter
        // without defaulting: the published defaults are the C# initializers.
        var sparse = JsonNode.Parse("""
            {
              "apiVersion": "tollgate.io/v1alpha1", "kind": "AiRoutingRule", "metadata": { "name": "sparse", "namespace": "ci" },
              "spec": {
                "route": { "targets": [{ "provider": "openai", "model": "gpt-5-mini" }], "retry": {}, "circuitBreaker": {} },
                "cache": { "enabled": true },
                "fallback": { "onBudgetExceeded": { "response": "Budget spent." } }
              }
            }
            """)!.AsObject();
        var budget = JsonNode.Parse("""
            { "apiVersion": "tollgate.io/v1alpha1", "kind": "AiBudget", "metadata": { "name": "sparse" }, "spec": { "limit": { "amount": 1 } } }
            """)!.AsObject();

        foreach (var manifest in new[] { sparse, budget })
        {
            var kind = manifest["kind"]!.GetValue<string>();
            var defaulted = (JsonObject)OpenApiValidator.ApplyDefaults(CrdFiles.Schema(kind), manifest.DeepClone())!;

            Assert.NotEqual(manifest.ToJsonString(), defaulted.ToJsonString());
            Assert.Equal(Bound(manifest), Bound(defaulted));
            Assert.Empty(OpenApiValidator.Validate(CrdFiles.Schema(kind), manifest));
        }
    }

    private static string Bound(JsonObject manifest)
    {
        var documents = PolicyLoader.Parse("manifest.yaml", manifest.ToJsonString());
        object spec = documents.Budgets.Count > 0 ? documents.Budgets[0].Spec : documents.RoutingRules[0].Spec;
        return System.Text.Json.JsonSerializer.Serialize(spec, spec.GetType(), ModelJson.Strict);
    }

    private static void Collect(JsonNode? node, List<JsonObject> rules)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj["x-kubernetes-validations"] is JsonArray found)
                {
                    rules.AddRange(found.Cast<JsonObject>());
                }

                foreach (var (_, child) in obj)
                {
                    Collect(child, rules);
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    Collect(child, rules);
                }

                break;
        }
    }
}
