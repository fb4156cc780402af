using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Tollgate.Core.Matching;
using k8s;
using k8s.Models;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Policy;
using Tollgate.Core.Serialization;

namespace Tollgate.Operator.Controllers;

/// <summary>A namespace's policy as the meter reads it, and its checksum.</summary>
internal sealed record RenderedPolicy(string Yaml, string Checksum, IReadOnlyList<string> Excluded);

/// <summary>
/// Renders the policy of one namespace (the AiBudgets that can match it and the AiRoutingRules that apply to it) and the
/// exporter's (every AiBudget), as the multi-document CRD YAML the meter's and the exporter's <see cref="PolicyLoader"/>
/// reads. One instance serves both, so an object's last good spec is the same in every copy. Output is a pure function of the objects'
/// specs (sorted, without status or server-managed metadata), so unchanged input gives byte-identical output and the
/// checksum comparison can skip the write.
/// </summary>
internal sealed class PolicyRenderer
{
    // Keyed by kind/namespace/name: the last spec that compiled, so a bad edit keeps serving the previous good one.
    private readonly ConcurrentDictionary<string, object> _lastGood = new(StringComparer.Ordinal);

    /// <summary>Why the object does not compile, or null when it does.</summary>
    public static string? Validate(AiBudget budget) => Validate(new PolicyDocuments([Clean(budget)], [], []));

    /// <summary>Why the object does not compile, or null when it does.</summary>
    public static string? Validate(AiRoutingRule rule) => Validate(new PolicyDocuments([], [Clean(rule)], []));

    public static bool Applies(AiBudget budget, V1Namespace ns)
    {
        var match = budget.Spec.Match;
        var name = ns.Metadata.Name;
        if (match.Namespaces is { Count: > 0 } namespaces && !namespaces.Contains(name, StringComparer.Ordinal))
        {
            return false;
        }

        return match.NamespaceSelector is null
            || LabelSelectorMatcher.Matches(match.NamespaceSelector, (IReadOnlyDictionary<string, string>?)ns.Metadata.Labels?.AsReadOnly() ?? new Dictionary<string, string>());
    }

    public static string Checksum(string data) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(data)));

    public RenderedPolicy Render(V1Namespace ns, IEnumerable<AiBudget> budgets, IEnumerable<AiRoutingRule> rules, string operatorNamespace)
    {
        var excluded = new List<string>();
        var documents = Budgets(budgets.Where(b => Applies(b, ns)), excluded);
        var nsName = ns.Metadata.Name;
        foreach (var rule in rules
            .Where(r => r.Metadata.NamespaceProperty == nsName || r.Metadata.NamespaceProperty == operatorNamespace)
            .OrderBy(r => r.Metadata.NamespaceProperty == operatorNamespace && nsName != operatorNamespace ? 1 : 0)
            .ThenBy(r => r.Metadata.NamespaceProperty, StringComparer.Ordinal)
            .ThenBy(r => r.Metadata.Name, StringComparer.Ordinal))
        {
            if (Usable(Clean(rule), $"{AiRoutingRule.KindName}/{rule.Metadata.NamespaceProperty}/{rule.Metadata.Name}", Validate, excluded) is { } good)
            {
                documents.Add(KubernetesYaml.Serialize(good));
            }
        }

        return Rendered(documents, excluded);
    }

    /// <summary>
    /// Every budget of the cluster and no routing rules: what the exporter needs to publish each budget's gauges, whichever
    /// namespaces it matches (or none yet).
    /// </summary>
    public RenderedPolicy RenderBudgets(IEnumerable<AiBudget> budgets)
    {
        var excluded = new List<string>();
        return Rendered(Budgets(budgets, excluded), excluded);
    }

    private List<string> Budgets(IEnumerable<AiBudget> budgets, List<string> excluded)
    {
        var documents = new List<string>();
        foreach (var budget in budgets.OrderBy(b => b.Metadata.Name, StringComparer.Ordinal))
        {
            if (Usable(Clean(budget), $"{AiBudget.KindName}/{budget.Metadata.Name}", Validate, excluded) is { } good)
            {
                documents.Add(KubernetesYaml.Serialize(good));
            }
        }

        return documents;
    }

    private static RenderedPolicy Rendered(List<string> documents, List<string> excluded)
    {
        var yaml = string.Join("---\n", documents.Select(d => d.EndsWith('\n') ? d : d + "\n"));
        return new RenderedPolicy(yaml, Checksum(yaml), excluded);
    }

    private T? Usable<T>(T clean, string key, Func<T, string?> validate, List<string> excluded)
        where T : class
    {
        if (validate(clean) is not { } error)
        {
            _lastGood[key] = clean;
            return clean;
        }

        excluded.Add($"{key}: {error}");
        return _lastGood.TryGetValue(key, out var previous) ? (T)previous : null;
    }

    private static string? Validate(PolicyDocuments documents)
    {
        try
        {
            PolicyCompiler.Compile(documents, "cluster");
            return null;
        }
        catch (DocumentException e)
        {
            return string.Join("; ", e.Errors.Select(error => error.ToString()));
        }
    }

    /// <summary>The object as a user would have applied it: kind, name, namespace and spec only.</summary>
    internal static AiBudget Clean(AiBudget budget) => new()
    {
        Metadata = new V1ObjectMeta { Name = budget.Metadata.Name },
        Spec = budget.Spec,
    };

    internal static AiRoutingRule Clean(AiRoutingRule rule) => new()
    {
        Metadata = new V1ObjectMeta { Name = rule.Metadata.Name, NamespaceProperty = rule.Metadata.NamespaceProperty },
        Spec = rule.Spec,
    };
}
