using System.Text.Json.Nodes;
using k8s;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Whether a stored object already says what the operator would write, so a steady state makes no writes. The API
/// server fills in defaults the operator never sets (<c>matchPolicy: Equivalent</c>, empty <c>namespaceSelector</c> and
/// <c>objectSelector</c> on admission policies); those are the only extra fields tolerated. Anything else someone added
/// by hand (a <c>matchConditions</c> list, an <c>objectSelector</c> that exempts pods) counts as drift and is overwritten.
/// </summary>
internal static class SpecComparison
{
    /// <summary>True when <paramref name="stored"/> equals <paramref name="desired"/> up to server defaults.</summary>
    public static bool Covers(object desired, object? stored) =>
        stored is not null && Covers(JsonNode.Parse(KubernetesJson.Serialize(desired)), JsonNode.Parse(KubernetesJson.Serialize(stored)));

    internal static bool Covers(JsonNode? desired, JsonNode? stored)
    {
        switch (desired)
        {
            case null:
                return stored is null || IsServerDefault(null, stored);
            case JsonObject wanted:
                if (stored is not JsonObject actual)
                {
                    return false;
                }

                foreach (var (key, value) in wanted)
                {
                    if (!Covers(value, actual[key]))
                    {
                        return false;
                    }
                }

                return actual.Where(p => !wanted.ContainsKey(p.Key) || wanted[p.Key] is null).All(p => p.Value is null || IsServerDefault(p.Key, p.Value));
            case JsonArray wantedItems:
                return stored is JsonArray items && items.Count == wantedItems.Count && wantedItems.Zip(items).All(pair => Covers(pair.First, pair.Second));
            default:
                return JsonNode.DeepEquals(desired, stored);
        }
    }

    // An empty selector selects everything, as an absent one does; Equivalent is the documented default match policy.
    private static bool IsServerDefault(string? key, JsonNode value) => value switch
    {
        JsonObject o => o.Count == 0,
        JsonArray a => a.Count == 0,
        JsonValue v => key == "matchPolicy" && v.ToString() == "Equivalent",
        _ => false,
    };
}
