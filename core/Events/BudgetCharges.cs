using Tollgate.Core.Budgets;

namespace Tollgate.Core.Events;

/// <summary>Describes, for the usage event, what each matching budget did with a request.</summary>
public static class BudgetCharges
{
    public const string Charged = "charged";
    public const string Audit = "audit";
    public const string Blocked = "blocked";
    public const string NotCharged = "not_charged";
    public const string Unavailable = "unavailable";

    /// <summary>Admitted unchecked because the ledger was down and the budget fails open; still charged.</summary>
    public const string Unchecked = "unchecked";

    /// <param name="amounts">What was charged per budget (null when the request was turned away).</param>
    public static IReadOnlyList<BudgetCharge> From(BudgetAdmission admission, IReadOnlyList<decimal>? amounts)
    {
        if (admission.Budgets.Count == 0)
        {
            return [];
        }

        var list = new BudgetCharge[admission.Budgets.Count];
        for (var i = 0; i < list.Length; i++)
        {
            var budget = admission.Budgets[i];
            var decision = admission.Kind switch
            {
                AdmissionKind.Blocked => i == admission.BlockingIndex ? Blocked : NotCharged,
                AdmissionKind.LedgerUnavailable => i == admission.BlockingIndex ? Unavailable : NotCharged,
                _ when !admission.Reserved => Unchecked,
                _ => budget.Audit ? Audit : Charged,
            };
            var amount = admission.Kind == AdmissionKind.Allowed && amounts is not null ? amounts[i] : 0m;
            list[i] = new BudgetCharge(budget.Name, admission.Charges[i].Scope, budget.UnitName, decision, amount);
        }

        return list;
    }
}
