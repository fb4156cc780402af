using Tollgate.Core.Matching;
using Tollgate.Core.Policy;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Routing;
using Tollgate.Core.Serialization;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Policy;

public sealed class PolicyLoaderTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-policy-").FullName;

    [Fact]
    public void Valid_budget_compiles_with_defaults()
    {
        var snapshot = Compile("""
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: transaction-service-daily }
            spec:
              priority: 100
              match:
                subjects: ["team:payments-platform"]
                models: ["claude-sonnet-*"]
              limit: { amount: 50, unit: usd, period: day }
              appliesPer: ["metadata.repo"]
              message: { mitigation: "Ask the platform team.", dashboardUrl: "https://grafana.example.com/d/tollgate-budgets" }
            """);

        var budget = Assert.Single(snapshot.Budgets);
        Assert.Equal("transaction-service-daily", budget.Name);
        Assert.Equal(50m, budget.Limit);
        Assert.False(budget.Audit);
        Assert.False(budget.HardCap);
        Assert.Equal(Core.Budgets.FailurePolicy.Closed, budget.FailurePolicy);
        Assert.Equal([75, 90, 95, 100], budget.Thresholds);
        Assert.Equal(["metadata.repo"], budget.AppliesPer);
    }

    [Theory]
    [InlineData("spec: { limit: { amount: 5, unit: usd, period: day }, hardcap: true }", "spec.hardcap: unknown field", 4)]
    [InlineData("spec: { limit: { amount: 5, unit: usd, period: year } }", "spec.limit.period: must be one of day, week, month (got \"year\")", 4)]
    [InlineData("spec: { limit: { amount: 5 }, alerts: { thresholds: [75, 150] } }", "spec.alerts.thresholds[1]: must be a percentage from 1 to 100 (got 150)", 4)]
    [InlineData("spec: { limit: { amount: 5 }, alerts: { thresholds: [90, 75] } }", "spec.alerts.thresholds[1]: must be above the one before it: thresholds ascend (got 75 after 90)", 4)]
    [InlineData("spec: { limit: { amount: lots, unit: usd, period: day } }", "spec.limit.amount: has the wrong type (expected a number)", 4)]
    [InlineData("spec: { limit: { amount: 0, unit: usd, period: day } }", "spec.limit.amount: must be greater than 0", 4)]
    [InlineData("spec: { limit: { amount: 5, unit: eur, period: day } }", "spec.limit.unit: must be one of usd, tokens (got \"eur\")", 4)]
    [InlineData("spec: { enforcement: warn, limit: { amount: 5 } }", "spec.enforcement: must be one of block, audit (got \"warn\")", 4)]
    [InlineData("spec: { failurePolicy: maybe, limit: { amount: 5 } }", "spec.failurePolicy: must be one of closed, open (got \"maybe\")", 4)]
    [InlineData("spec: { appliesPer: [branch], limit: { amount: 5 } }", "spec.appliesPer[0]: unknown key \"branch\"", 4)]
    [InlineData("spec: { match: { subjects: [payments] }, limit: { amount: 5 } }", "spec.match.subjects[0]: must look like team:<name>", 4)]
    [InlineData("spec: { hardCap: true, enforcement: audit, limit: { amount: 5 } }", "spec.hardCap: cannot be true when enforcement is audit", 4)]
    [InlineData("spec: { limit: { amount: 5 }, message: { dashboardUrl: grafana } }", "spec.message.dashboardUrl: must be an absolute http(s) URL", 4)]
    [InlineData("spec: { limit: { amount: 5 }, match: { metadata: { pr: 123 } } }", "spec.match.metadata.pr: has the wrong type (expected a string", 4)]
    public void Invalid_field_is_named_with_file_document_and_line(string spec, string expected, int line)
    {
        var ex = Assert.Throws<DocumentException>(() => Compile($"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: {"{"} name: broken {"}"}
            {spec}
            """));

        Assert.StartsWith("budgets.yaml: document 1 (AiBudget \"broken\"): ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.EndsWith($"(line {line})", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_at_once_with_its_document_number()
    {
        var ex = Assert.Throws<DocumentException>(() => Compile("""
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: ok }
            spec: { limit: { amount: 5 } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: Bad_Name }
            spec: { limit: { amount: -1 } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: ok }
            spec: { limit: { amount: 5 } }
            """));

        Assert.Equal(3, ex.Errors.Count);
        Assert.Contains(ex.Errors, e => e is { Document: 2, Field: "metadata.name" } && e.Message.Contains("DNS subdomain", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e is { Document: 2, Field: "spec.limit.amount", Line: 9 });
        Assert.Contains(ex.Errors, e => e is { Document: 3, Field: "metadata.name" } && e.Message.Contains("already named \"ok\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Invalid_yaml_names_the_line()
    {
        var ex = Assert.Throws<DocumentException>(() => Compile("apiVersion: tollgate.io/v1alpha1\nkind: AiBudget\nmetadata:\n  name: x\n - item\nspec: {}\n"));
        Assert.StartsWith("budgets.yaml: invalid YAML", ex.Message, StringComparison.Ordinal);
        Assert.Matches(@"\(line \d+\)$", ex.Message);
    }

    [Fact]
    public void Metadata_that_is_not_a_mapping_is_a_field_error()
    {
        var ex = Assert.Throws<DocumentException>(() => Compile("apiVersion: tollgate.io/v1alpha1\nkind: AiBudget\nmetadata: oops\nspec: { limit: { amount: 1 } }\n"));
        Assert.Equal("budgets.yaml: document 1 (AiBudget): metadata: has the wrong type (expected an object) (line 3)", ex.Message);
    }

    [Fact]
    public void Other_api_groups_are_skipped_and_unknown_tollgate_kinds_rejected()
    {
        var documents = PolicyLoader.Parse("mixed.yaml", """
            apiVersion: v1
            kind: Namespace
            metadata: { name: ci-payments }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: b }
            spec: { limit: { amount: 1 } }
            """);
        Assert.Single(documents.Budgets);
        Assert.Contains("document 1 (v1 Namespace \"ci-payments\") is not a Tollgate object", Assert.Single(documents.Ignored), StringComparison.Ordinal);

        var ex = Assert.Throws<DocumentException>(() => PolicyLoader.Parse("kinds.yaml", """
            apiVersion: tollgate.io/v1alpha1
            kind: AiQuota
            metadata: { name: q }
            """));
        Assert.Equal("kinds.yaml: document 1 (AiQuota \"q\"): kind: unsupported kind \"AiQuota\" (expected AiBudget or AiRoutingRule) (line 2)", ex.Message);

        var version = Assert.Throws<DocumentException>(() => PolicyLoader.Parse("v.yaml", "apiVersion: tollgate.io/v2\nkind: AiBudget\nmetadata: { name: q }\n"));
        Assert.Contains("apiVersion: unsupported version \"tollgate.io/v2\"", version.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Folder_loads_every_yaml_file_and_orders_budgets_by_priority_then_name()
    {
        File.WriteAllText(Path.Combine(_directory, "a.yaml"), "apiVersion: tollgate.io/v1alpha1\nkind: AiBudget\nmetadata: { name: zeta }\nspec: { priority: 5, limit: { amount: 1 } }\n");
        File.WriteAllText(Path.Combine(_directory, "b.yml"), "apiVersion: tollgate.io/v1alpha1\nkind: AiBudget\nmetadata: { name: alpha }\nspec: { priority: 5, limit: { amount: 1 } }\n---\napiVersion: tollgate.io/v1alpha1\nkind: AiBudget\nmetadata: { name: top }\nspec: { priority: 50, limit: { amount: 1 } }\n");
        File.WriteAllText(Path.Combine(_directory, "notes.txt"), "not policy");

        var snapshot = PolicyLoader.LoadSnapshot(_directory);
        Assert.Equal(["top", "alpha", "zeta"], snapshot.Budgets.Select(b => b.Name));
    }

    [Fact]
    public void Missing_policy_path_is_reported()
    {
        var missing = Path.Combine(_directory, "nope.yaml");
        var ex = Assert.Throws<DocumentException>(() => PolicyLoader.LoadSnapshot(missing));
        Assert.Equal($"{missing}: no such policy file or folder", ex.Message);
    }

    [Fact]
    public void Shipped_samples_load()
    {
        var samples = Path.Combine(RepositoryPaths.Root(), "config", "samples");
        var snapshot = PolicyLoader.LoadSnapshot(samples);
        Assert.NotEmpty(snapshot.Budgets);
    }

    [Theory]
    [InlineData("limits: { requestsPerMinute: 0 }", "spec.limits.requestsPerMinute: must be positive (got 0)")]
    [InlineData("limits: { tokensPerMinute: -5 }", "spec.limits.tokensPerMinute: must be positive (got -5)")]
    [InlineData("limits: { maxInputTokens: 0 }", "spec.limits.maxInputTokens: must be positive (got 0)")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m }], retry: { attempts: 11 } }", "spec.route.retry.attempts: must be from 0 to 10 (got 11)")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m }], retry: { backoff: linear } }", "spec.route.retry.backoff: must be one of exponential, constant (got \"linear\")")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m }], circuitBreaker: { failureRatio: 1.5 } }", "spec.route.circuitBreaker.failureRatio: must be above 0 and at most 1 (got 1.5)")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m }], circuitBreaker: { breakSeconds: 0 } }", "spec.route.circuitBreaker.breakSeconds: must be at least 1 (got 0)")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m }], timeoutSeconds: 0 }", "spec.route.timeoutSeconds: must be from 1 to 3600 (got 0)")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m, baseUrl: \"ftp://x\" }] }", "spec.route.targets[0].baseUrl: must be an absolute http(s) URL without a query (got \"ftp://x\")")]
    [InlineData("route: { targets: [{ provider: anthropic, model: m, apiKeySecretRef: { name: ../etc, key: k } }] }", "spec.route.targets[0].apiKeySecretRef.name: must be a Secret name (got \"../etc\")")]
    [InlineData("route: { targets: [{ provider: gemini, model: m }] }", "spec.route.targets[0].provider: must be one of anthropic, openai (got \"gemini\")")]
    [InlineData("route: { targets: [] }", "spec.route.targets: must list at least one target")]
    [InlineData("route: { retry: { attempts: 1 } }", "spec.route.targets: must list at least one target")]
    [InlineData("match: { subjects: [] }", "spec.match.subjects: must list at least one item when given")]
    [InlineData("match: { namespaces: [] }", "spec.match.namespaces: must list at least one item when given")]
    [InlineData("match: { models: [] }", "spec.match.models: must list at least one item when given")]
    [InlineData("cache: { enabled: true, ttlSeconds: 0 }", "spec.cache.ttlSeconds: must be at least 1 (got 0)")]
    [InlineData("fallback: { onBudgetExceeded: { model: a, response: b } }", "spec.fallback.onBudgetExceeded: must set exactly one of model or response")]
    [InlineData("route: { targets: [{ provider: anthropic, model: \"claude sonnet\" }] }", "spec.route.targets[0].model: has whitespace U+0020 at character 7 (starts \"claude sonnet\")")]
    [InlineData("fallback: { onBudgetExceeded: { model: \"haiku\\e[2J\" } }", "spec.fallback.onBudgetExceeded.model: has a control character U+001B at character 6 (starts \"haiku\\u001B[2J\")")]
    [InlineData("fallback: { onBudgetExceeded: { model: \"\" } }", "spec.fallback.onBudgetExceeded.model: is empty")]
    public void Invalid_routing_rule_field_is_named(string spec, string expected)
    {
        var ex = Assert.Throws<DocumentException>(() => Compile($$"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: paced, namespace: ci }
            spec:
              {{spec}}
            """));

        Assert.StartsWith("budgets.yaml: document 1 (AiRoutingRule \"paced\"): ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Routing_rules_compile_in_priority_order_and_the_first_match_applies()
    {
        var policy = Compile("""
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: paced, namespace: ci }
            spec: { match: { models: ["claude-*"] }, limits: { requestsPerMinute: 60, tokensPerMinute: 100000 } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: route-only }
            spec: { route: { targets: [{ provider: anthropic, model: claude-haiku-4-5 }] } }
            """);

        Assert.Equal(["ci/paced", "route-only"], policy.Routes.Select(r => r.Name));
        var paced = policy.RouteFor(new RequestContext("", new Dictionary<string, string>(), new Dictionary<string, string>(), "anthropic", "claude-sonnet-4-5"));
        Assert.Equal(new RateLimitCharge("ci/paced", 60, 100000), paced!.RateLimit);
        Assert.Empty(paced.Targets);

        var routed = policy.RouteFor(new RequestContext("", new Dictionary<string, string>(), new Dictionary<string, string>(), "openai", "gpt-4o"));
        Assert.Equal("route-only", routed!.Name);
        Assert.Null(routed.RateLimit);
        Assert.Equal(new CompiledTarget(0, "anthropic", "claude-haiku-4-5", null, null), Assert.Single(routed.Targets));
        Assert.Equal(RouteResilience.Default, routed.Resilience);
    }

    [Fact]
    public void Routing_rule_model_longer_than_a_model_name_is_refused()
    {
        var ex = Assert.Throws<DocumentException>(() => Compile($$"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: long-model, namespace: ci }
            spec:
              route: { targets: [{ provider: openai, model: {{new string('m', 300)}} }] }
            """));

        Assert.Contains("spec.route.targets[0].model: is 300 characters long, over the limit of 256", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('m', 65), ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static PolicySnapshot Compile(string yaml) => PolicyCompiler.Compile(PolicyLoader.Parse("budgets.yaml", yaml), "budgets.yaml");
}
