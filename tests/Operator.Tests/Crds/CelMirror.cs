using System.Text.Json.Nodes;

namespace Tollgate.Operator.Tests.Crds;

/// <summary>
/// C# equivalents of the CEL rules the CRDs carry, keyed by the rule's exact text. There is no CEL interpreter here, so
/// each rule is mirrored by hand; a rule without a mirror fails every validation that reaches it, so a new
/// <c>[CelValidation]</c> cannot ship untested. The mirrors follow Kubernetes' semantics: <c>has(self.f)</c> is true
/// when the field is set (nulls were pruned), and defaults were applied before the rule runs.
/// </summary>
internal static class CelMirror
{
    private static readonly Dictionary<string, Func<JsonNode, bool>> Rules = new(StringComparer.Ordinal)
    {
        // BudgetLimit.Amount
        ["self > 0.0"] = self => OpenApiValidator.Number(self) > 0,

        // BudgetAlerts.Thresholds: non-decreasing; repeats are the list-type set's business.
        ["self.isSorted()"] = self =>
        {
            var values = self.AsArray().Select(v => OpenApiValidator.Number(v!)).ToList();
            return values.Zip(values.Skip(1)).All(pair => pair.First <= pair.Second);
        },

        // AiBudgetSpec
        ["!has(self.hardCap) || !self.hardCap || !has(self.enforcement) || self.enforcement != 'audit'"] = self =>
            !(Has(self, "hardCap") && self["hardCap"]!.GetValue<bool>() && Has(self, "enforcement") && self["enforcement"]!.GetValue<string>() == "audit"),

        // LabelSelectorRequirement
        ["!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)"] = self =>
            self["operator"]!.GetValue<string>() is not ("In" or "NotIn") || (Has(self, "values") && self["values"]!.AsArray().Count > 0),

        // SecretKeyRef
        ["self.key != '.' && self.key != '..'"] = self => self["key"]!.GetValue<string>() is not ("." or ".."),

        // BudgetFallback
        ["has(self.model) != has(self.response)"] = self => Has(self, "model") != Has(self, "response"),
    };

    public static IReadOnlyCollection<string> Known => Rules.Keys;

    public static bool Evaluate(string rule, JsonNode self) =>
        Rules.TryGetValue(rule, out var mirror)
            ? mirror(self)
            : throw new InvalidOperationException($"no C# mirror for the CEL rule \"{rule}\": add one to {nameof(CelMirror)}");

    private static bool Has(JsonNode self, string field) => self is JsonObject obj && obj[field] is not null;
}
