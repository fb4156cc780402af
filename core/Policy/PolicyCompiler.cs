using System.Text.RegularExpressions;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Budgets;
using Tollgate.Core.Matching;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Routing;
using Tollgate.Core.Serialization;
using Tollgate.Core.Tagging;

namespace Tollgate.Core.Policy;

/// <summary>
/// Validates custom resources and compiles them into a <see cref="PolicySnapshot"/>. Every problem is reported at once,
/// each naming its object and field, so one edit-and-retry fixes a file.
/// </summary>
public static partial class PolicyCompiler
{
    private static readonly string[] Units = ["usd", "tokens"];
    private static readonly string[] Periods = ["day", "week", "month"];
    private static readonly string[] Enforcements = ["block", "audit"];
    private static readonly string[] FailurePolicies = ["closed", "open"];
    private static readonly string[] ScopeKeys = [TagKeys.User, "namespace", "model", TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, "metadata.<key>"];
    private static readonly string[] TargetProviders = ["anthropic", "openai"];
    private static readonly string[] Backoffs = ["exponential", "constant"];

    public static PolicySnapshot Compile(PolicyDocuments documents, string source)
    {
        var errors = new List<DocumentError>();
        var budgets = new List<CompiledBudget>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var budget in documents.Budgets)
        {
            var report = Reporter(budget, errors);
            var name = budget.Metadata.Name;
            if (ValidateName(name, report) && !names.Add(name!))
            {
                report("metadata.name", $"another AiBudget is already named \"{name}\"");
            }

            var compiled = CompileBudget(budget, report);
            if (compiled is not null)
            {
                budgets.Add(compiled);
            }
        }

        var rules = new List<AiRoutingRule>();
        var ruleNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in documents.RoutingRules)
        {
            var report = Reporter(rule, errors);
            var name = rule.Metadata.Name;
            if (ValidateName(name, report) && !ruleNames.Add($"{rule.Metadata.NamespaceProperty}/{name}"))
            {
                report("metadata.name", $"another AiRoutingRule in this namespace is already named \"{name}\"");
            }

            ValidateRoutingRule(rule.Spec, report);
            rules.Add(rule);
        }

        if (errors.Count > 0)
        {
            throw new DocumentException(errors);
        }

        budgets.Sort(static (a, b) => a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : string.CompareOrdinal(a.Name, b.Name));
        rules.Sort(static (a, b) => a.Spec.Priority != b.Spec.Priority
            ? b.Spec.Priority.CompareTo(a.Spec.Priority)
            : string.CompareOrdinal(a.Metadata.Name, b.Metadata.Name));
        return new PolicySnapshot(budgets, rules, source) { Routes = [.. rules.Select(CompileRoute)] };
    }

    private static CompiledBudget? CompileBudget(AiBudget budget, Action<string, string> report)
    {
        var spec = budget.Spec;
        var failed = false;
        void Fail(string field, string message)
        {
            failed = true;
            report(field, message);
        }

        if (spec.Limit.Amount <= 0)
        {
            Fail("spec.limit.amount", $"must be greater than 0 (got {spec.Limit.Amount})");
        }

        var unit = OneOf(spec.Limit.Unit, Units, "spec.limit.unit", Fail);
        var period = OneOf(spec.Limit.Period, Periods, "spec.limit.period", Fail);
        var enforcement = OneOf(spec.Enforcement, Enforcements, "spec.enforcement", Fail);
        var failurePolicy = OneOf(spec.FailurePolicy, FailurePolicies, "spec.failurePolicy", Fail);
        if (spec.HardCap && enforcement == "audit")
        {
            Fail("spec.hardCap", "cannot be true when enforcement is audit (an audit budget never blocks)");
        }

        for (var i = 0; i < spec.AppliesPer.Count; i++)
        {
            var key = spec.AppliesPer[i];
            var valid = key is TagKeys.User or "namespace" or "model" or TagKeys.Team or TagKeys.Repo or TagKeys.Pipeline
                || (key.StartsWith(TagKeys.MetadataPrefix, StringComparison.Ordinal) && key.Length > TagKeys.MetadataPrefix.Length);
            if (!valid)
            {
                Fail($"spec.appliesPer[{i}]", $"unknown key \"{key}\" (expected one of {string.Join(", ", ScopeKeys)})");
            }
        }

        ValidateMatch(spec.Match, "spec.match", Fail);
        // The same rules as the CRD's schema: the file a meter reads and what kubectl apply accepts must agree.
        for (var i = 0; i < spec.Alerts.Thresholds.Count; i++)
        {
            if (spec.Alerts.Thresholds[i] is < 1 or > 100)
            {
                Fail($"spec.alerts.thresholds[{i}]", $"must be a percentage from 1 to 100 (got {spec.Alerts.Thresholds[i]})");
            }
            else if (i > 0 && spec.Alerts.Thresholds[i] <= spec.Alerts.Thresholds[i - 1])
            {
                Fail($"spec.alerts.thresholds[{i}]", $"must be above the one before it: thresholds ascend (got {spec.Alerts.Thresholds[i]} after {spec.Alerts.Thresholds[i - 1]})");
            }
        }

        if (spec.Message.DashboardUrl is { } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            Fail("spec.message.dashboardUrl", $"must be an absolute http(s) URL (got \"{url}\")");
        }

        if (failed)
        {
            return null;
        }

        return new CompiledBudget(
            budget.Metadata.Name!,
            spec.Priority,
            new RequestMatcher(spec.Match),
            spec.Limit.Amount,
            unit == "usd" ? BudgetUnit.Usd : BudgetUnit.Tokens,
            period switch { "day" => BudgetPeriod.Day, "week" => BudgetPeriod.Week, _ => BudgetPeriod.Month },
            [.. spec.AppliesPer],
            enforcement == "audit",
            spec.HardCap,
            failurePolicy == "open" ? FailurePolicy.Open : FailurePolicy.Closed,
            [.. spec.Alerts.Thresholds.Order()],
            spec.Message.Mitigation,
            spec.Message.DashboardUrl);
    }

    private static void ValidateMatch(RequestMatch match, string at, Action<string, string> fail)
    {
        // "Any of none" would read as matching nothing, yet an absent list matches everything: the empty list is refused
        // (as the CRD's minItems does) rather than given either meaning silently.
        foreach (var (field, list) in new[] { ("namespaces", match.Namespaces), ("subjects", match.Subjects), ("models", match.Models) })
        {
            if (list is [])
            {
                fail($"{at}.{field}", $"must list at least one item when given (leave {field} out to match every one)");
            }
        }

        var subjects = match.Subjects ?? [];
        for (var i = 0; i < subjects.Count; i++)
        {
            var subject = subjects[i];
            var colon = subject.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || colon == subject.Length - 1 || !RequestMatcher.SubjectKinds.ContainsKey(subject[..colon]))
            {
                fail($"{at}.subjects[{i}]", $"must look like team:<name>, user:<name>, repo:<name> or pipeline:<name> (got \"{subject}\")");
            }
        }

        var models = match.Models ?? [];
        for (var i = 0; i < models.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(models[i]))
            {
                fail($"{at}.models[{i}]", "must not be empty");
            }
        }

        var namespaces = match.Namespaces ?? [];
        for (var i = 0; i < namespaces.Count; i++)
        {
            if (!DnsLabel().IsMatch(namespaces[i]))
            {
                fail($"{at}.namespaces[{i}]", $"is not a valid namespace name (got \"{namespaces[i]}\")");
            }
        }

        if (match.NamespaceSelector is { } selector)
        {
            for (var i = 0; i < selector.MatchExpressions.Count; i++)
            {
                var expression = selector.MatchExpressions[i];
                var field = $"{at}.namespaceSelector.matchExpressions[{i}]";
                if (!LabelSelectorMatcher.Operators.Contains(expression.Operator))
                {
                    fail($"{field}.operator", $"must be In, NotIn, Exists or DoesNotExist (got \"{expression.Operator}\")");
                }
                else if (expression.Operator is "In" or "NotIn" && expression.Values.Count == 0)
                {
                    fail($"{field}.values", $"must not be empty for {expression.Operator}");
                }

                if (string.IsNullOrEmpty(expression.Key))
                {
                    fail($"{field}.key", "is required");
                }
            }
        }
    }

    private static CompiledRoute CompileRoute(AiRoutingRule rule)
    {
        var spec = rule.Spec;
        var name = string.IsNullOrEmpty(rule.Metadata.NamespaceProperty) ? rule.Metadata.Name : $"{rule.Metadata.NamespaceProperty}/{rule.Metadata.Name}";
        var targets = spec.Route?.Targets.Select((t, i) => new CompiledTarget(
            i,
            t.Provider,
            t.Model,
            t.BaseUrl is null ? null : new Uri(t.BaseUrl),
            t.ApiKeySecretRef is { } secret ? new SecretKeyReference(secret.Name, secret.Key) : null)).ToList() ?? [];
        var resilience = new RouteResilience(
            spec.Route?.Retry?.Attempts ?? RouteResilience.Default.RetryAttempts,
            spec.Route?.Retry?.Backoff == "constant" ? BackoffKind.Constant : BackoffKind.Exponential,
            spec.Route?.CircuitBreaker?.FailureRatio,
            TimeSpan.FromSeconds(spec.Route?.CircuitBreaker?.BreakSeconds ?? 30),
            TimeSpan.FromSeconds(spec.Route?.TimeoutSeconds ?? 60));
        var rateLimit = spec.Limits is { RequestsPerMinute: not null } or { TokensPerMinute: not null }
            ? new RateLimitCharge(name!, spec.Limits.RequestsPerMinute, spec.Limits.TokensPerMinute)
            : null;
        var fallback = spec.Fallback?.OnBudgetExceeded is { } onBudget ? new BudgetFallbackAction(onBudget.Model, onBudget.Response) : null;
        return new CompiledRoute(name!, new RequestMatcher(spec.Match), targets, resilience, spec.Limits?.MaxInputTokens, rateLimit,
            spec.Cache is { Enabled: true } cache ? TimeSpan.FromSeconds(cache.TtlSeconds) : null, fallback);
    }

    private static void ValidateRoutingRule(AiRoutingRuleSpec spec, Action<string, string> fail)
    {
        ValidateMatch(spec.Match, "spec.match", fail);
        if (spec.Limits is { } limits)
        {
            foreach (var (field, value) in new[] { ("requestsPerMinute", (long?)limits.RequestsPerMinute), ("tokensPerMinute", limits.TokensPerMinute), ("maxInputTokens", limits.MaxInputTokens) })
            {
                if (value is <= 0)
                {
                    fail($"spec.limits.{field}", $"must be positive (got {value})");
                }
            }
        }

        if (spec.Route is { } route)
        {
            var routeTargets = route.Targets ?? [];
            if (routeTargets.Count == 0)
            {
                // A route with nowhere to go would send nothing anywhere; leaving the route out is how to keep the request's model.
                fail("spec.route.targets", "must list at least one target (leave route out to send requests to the meter's upstream unchanged)");
            }

            for (var i = 0; i < routeTargets.Count; i++)
            {
                var target = routeTargets[i];
                OneOf(target.Provider, TargetProviders, $"spec.route.targets[{i}].provider", fail);
                if (string.IsNullOrWhiteSpace(target.Model))
                {
                    fail($"spec.route.targets[{i}].model", "is required");
                }
                else if (ModelName.Problem(target.Model) is { } problem)
                {
                    // The rule's model replaces the request's: it is a metric label and logged like one, so the same rule holds.
                    fail($"spec.route.targets[{i}].model", $"{problem} (starts \"{ModelName.Preview(target.Model)}\")");
                }

                if (target.BaseUrl is { } baseUrl && (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.Query)))
                {
                    fail($"spec.route.targets[{i}].baseUrl", $"must be an absolute http(s) URL without a query (got \"{baseUrl}\")");
                }

                if (target.ApiKeySecretRef is { } secret)
                {
                    foreach (var (field, value) in new[] { ("name", secret.Name), ("key", secret.Key) })
                    {
                        // Both become path segments of the mounted Secret: nothing that could climb out of it.
                        if (string.IsNullOrWhiteSpace(value) || value.Contains('/', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal) || value is "." or "..")
                        {
                            fail($"spec.route.targets[{i}].apiKeySecretRef.{field}", $"must be a Secret {field} (got \"{value}\")");
                        }
                    }
                }
            }

            if (route.Retry is { } retry)
            {
                if (retry.Attempts is < 0 or > 10)
                {
                    fail("spec.route.retry.attempts", $"must be from 0 to 10 (got {retry.Attempts})");
                }

                OneOf(retry.Backoff, Backoffs, "spec.route.retry.backoff", fail);
            }

            if (route.CircuitBreaker is { } breaker)
            {
                if (breaker.FailureRatio is <= 0 or > 1)
                {
                    fail("spec.route.circuitBreaker.failureRatio", $"must be above 0 and at most 1 (got {breaker.FailureRatio})");
                }

                if (breaker.BreakSeconds < 1)
                {
                    fail("spec.route.circuitBreaker.breakSeconds", $"must be at least 1 (got {breaker.BreakSeconds})");
                }
            }

            if (route.TimeoutSeconds is < 1 or > 3600)
            {
                fail("spec.route.timeoutSeconds", $"must be from 1 to 3600 (got {route.TimeoutSeconds})");
            }
        }

        if (spec.Cache is { Enabled: true, TtlSeconds: < 1 })
        {
            fail("spec.cache.ttlSeconds", $"must be at least 1 (got {spec.Cache.TtlSeconds})");
        }

        if (spec.Fallback?.OnBudgetExceeded is { } onBudget && (onBudget.Model is null) == (onBudget.Response is null))
        {
            fail("spec.fallback.onBudgetExceeded", "must set exactly one of model or response");
        }

        if (spec.Fallback?.OnBudgetExceeded?.Model is { } fallbackModel && (fallbackModel.Length == 0 ? "is empty" : ModelName.Problem(fallbackModel)) is { } fallbackProblem)
        {
            fail("spec.fallback.onBudgetExceeded.model", $"{fallbackProblem} (starts \"{ModelName.Preview(fallbackModel)}\")");
        }
    }

    private static bool ValidateName(string? name, Action<string, string> report)
    {
        if (string.IsNullOrEmpty(name))
        {
            report("metadata.name", "is required");
            return false;
        }

        if (name.Length > 253 || !DnsSubdomain().IsMatch(name))
        {
            report("metadata.name", $"must be a lowercase DNS subdomain name: a-z, 0-9, '-' and '.' (got \"{name}\")");
            return false;
        }

        return true;
    }

    private static string? OneOf(string? value, string[] allowed, string field, Action<string, string> fail)
    {
        if (value is not null && Array.IndexOf(allowed, value) >= 0)
        {
            return value;
        }

        fail(field, $"must be one of {string.Join(", ", allowed)} (got \"{value}\")");
        return null;
    }

    private static Action<string, string> Reporter(k8s.IKubernetesObject<k8s.Models.V1ObjectMeta> entity, List<DocumentError> errors)
    {
        var location = SourceMap.Of(entity);
        var label = entity.Metadata.Name is { } name ? $"{entity.Kind} \"{name}\"" : entity.Kind;
        return (field, message) => errors.Add(location is null
            ? new DocumentError($"{entity.Kind}/{entity.Metadata.Name}", null, null, field, null, message)
            : new DocumentError(location.File, location.Document, label, field, location.Yaml.LineOf(field), message));
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();
}
