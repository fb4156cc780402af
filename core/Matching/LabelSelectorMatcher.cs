using Tollgate.Core.Api.V1Alpha1;

namespace Tollgate.Core.Matching;

/// <summary>Kubernetes label selector semantics: all matchLabels and all matchExpressions must hold.</summary>
public static class LabelSelectorMatcher
{
    public static readonly IReadOnlySet<string> Operators = new HashSet<string>(StringComparer.Ordinal) { "In", "NotIn", "Exists", "DoesNotExist" };

    public static bool Matches(LabelSelector selector, IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value) in selector.MatchLabels)
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        foreach (var requirement in selector.MatchExpressions)
        {
            var present = labels.TryGetValue(requirement.Key, out var actual);
            var holds = requirement.Operator switch
            {
                "In" => present && requirement.Values.Contains(actual!),
                "NotIn" => !present || !requirement.Values.Contains(actual!),
                "Exists" => present,
                "DoesNotExist" => !present,
                _ => false,
            };
            if (!holds)
            {
                return false;
            }
        }

        return true;
    }
}
