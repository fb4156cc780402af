using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Core.Policy;
using Tollgate.Core.Serialization;

namespace Tollgate.Operator.Tests.Crds;

/// <summary>Valid manifests that use every field, edits of them, and what the meter's own policy compiler says about them.</summary>
internal static partial class Manifests
{
    public static JsonObject Full(string kind) => kind switch
    {
        "AiBudget" => JsonNode.Parse("""
            {
              "apiVersion": "tollgate.io/v1alpha1", "kind": "AiBudget", "metadata": { "name": "full" },
              "spec": {
                "priority": 5,
                "match": {
                  "namespaces": ["ci-payments"], "subjects": ["team:payments"], "models": ["claude-*"], "metadata": { "pipeline": "pr-*" },
                  "namespaceSelector": { "matchLabels": { "tier": "ci" }, "matchExpressions": [{ "key": "env", "operator": "In", "values": ["ci"] }] }
                },
                "limit": { "amount": 50, "unit": "usd", "period": "day" },
                "appliesPer": ["metadata.repo", "user"],
                "enforcement": "block", "hardCap": false, "failurePolicy": "closed",
                "alerts": { "thresholds": [50, 90, 100] },
                "message": { "mitigation": "Ask the platform team.", "dashboardUrl": "https://grafana.example.com/d/tollgate-budgets" }
              }
            }
            """)!.AsObject(),
        "AiRoutingRule" => JsonNode.Parse("""
            {
              "apiVersion": "tollgate.io/v1alpha1", "kind": "AiRoutingRule", "metadata": { "name": "full", "namespace": "ci-payments" },
              "spec": {
                "priority": 10,
                "match": {
                  "models": ["claude-sonnet-*"], "metadata": { "agent_step": "summarize" },
                  "namespaceSelector": { "matchExpressions": [{ "key": "env", "operator": "In", "values": ["ci"] }] }
                },
                "route": {
                  "targets": [{ "provider": "anthropic", "model": "claude-haiku-4-5", "baseUrl": "https://api.anthropic.com", "apiKeySecretRef": { "name": "anthropic-key", "key": "apiKey" } }],
                  "retry": { "attempts": 2, "backoff": "exponential" },
                  "circuitBreaker": { "failureRatio": 0.5, "breakSeconds": 30 },
                  "timeoutSeconds": 60
                },
                "limits": { "maxInputTokens": 60000, "requestsPerMinute": 600, "tokensPerMinute": 2000000 },
                "cache": { "enabled": true, "ttlSeconds": 3600 },
                "fallback": { "onBudgetExceeded": { "model": "claude-haiku-4-5" } }
              }
            }
            """)!.AsObject(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// A copy of <paramref name="manifest"/> with each path (<c>spec.route.targets[0].model</c>) set to its JSON value,
    /// or removed where the value is null.
    /// </summary>
    public static JsonObject With(JsonObject manifest, JsonObject edits)
    {
        var copy = manifest.DeepClone().AsObject();
        foreach (var (path, value) in edits)
        {
            var segments = Segment().Matches(path).Select(m => m.Value).ToList();
            JsonNode parent = copy;
            foreach (var segment in segments[..^1])
            {
                parent = (segment.StartsWith('[') ? parent[int.Parse(segment[1..^1], System.Globalization.CultureInfo.InvariantCulture)] : parent[segment])
                    ?? throw new ArgumentException($"{path}: {segment} is not in the manifest");
            }

            var last = segments[^1];
            if (last.StartsWith('['))
            {
                parent[int.Parse(last[1..^1], System.Globalization.CultureInfo.InvariantCulture)] = value?.DeepClone();
            }
            else if (value is null)
            {
                parent.AsObject().Remove(last);
            }
            else
            {
                parent[last] = value.DeepClone();
            }
        }

        return copy;
    }

    /// <summary>Every problem the meter's policy loader and compiler find in the manifest (none: it would be enforced).</summary>
    public static IReadOnlyList<DocumentError> Compile(JsonObject manifest)
    {
        try
        {
            // JSON is YAML: the loader reads it as a user's file.
            PolicyCompiler.Compile(PolicyLoader.Parse("manifest.yaml", manifest.ToJsonString()), "manifest.yaml");
            return [];
        }
        catch (DocumentException ex)
        {
            return ex.Errors;
        }
    }

    [GeneratedRegex(@"[^.\[\]]+|\[\d+\]", RegexOptions.CultureInvariant)]
    private static partial Regex Segment();
}
