using k8s.Models;

namespace Tollgate.Operator.Controllers;

/// <summary>Condition bookkeeping: lastTransitionTime moves only when the status flips, as the Kubernetes API conventions ask.</summary>
internal static class Conditions
{
    public const string Ready = "Ready";
    public const string PrometheusRuleReady = "PrometheusRuleReady";
    public const string ThresholdCrossed = "ThresholdCrossed";

    public static List<V1Condition> Set(IEnumerable<V1Condition> existing, V1Condition desired, DateTimeOffset now)
    {
        var list = existing.Where(c => c.Type != desired.Type).ToList();
        var previous = existing.FirstOrDefault(c => c.Type == desired.Type);
        desired.LastTransitionTime = previous is not null && previous.Status == desired.Status ? previous.LastTransitionTime : now.UtcDateTime;
        list.Add(desired);
        list.Sort(static (a, b) => string.CompareOrdinal(a.Type, b.Type));
        return list;
    }

    public static V1Condition Make(string type, bool status, string reason, string message, long? generation) => new()
    {
        Type = type,
        Status = status ? "True" : "False",
        Reason = reason,
        Message = message,
        ObservedGeneration = generation,
    };

    /// <summary>Equal ignoring lastTransitionTime (which <see cref="Set"/> carries over) so a steady state writes nothing.</summary>
    public static bool SameAs(IReadOnlyList<V1Condition> a, IReadOnlyList<V1Condition> b) =>
        a.Count == b.Count && a.Zip(b).All(p =>
            p.First.Type == p.Second.Type && p.First.Status == p.Second.Status && p.First.Reason == p.Second.Reason
            && p.First.Message == p.Second.Message && p.First.ObservedGeneration == p.Second.ObservedGeneration);
}
