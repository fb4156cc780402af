using System.Globalization;
using Tollgate.Core.Ledger;
using Tollgate.Core.Tagging;

namespace Tollgate.Core.Budgets;

/// <summary>The sentences a blocked pipeline reads: who ran out of what, and when.</summary>
public static class BudgetMessages
{
    public const string DefaultMitigation =
        "Review the pipeline's logs for loops or runaway agents, or ask the platform team to raise the budget.";

    /// <summary>
    /// E.g. <c>Repository "transaction-service" has exhausted its daily $50 AI budget; refused at 14:32 UTC, it resets at
    /// 2026-12-04 00:00 UTC.</c> The time is when this request was refused (the ledger does not keep when the budget ran
    /// out), and the reset is what a pipeline owner needs to know next.
    /// </summary>
    public static string Exhausted(CompiledBudget budget, string scope, DateTimeOffset at) =>
        $"{Subject(budget, scope)} has exhausted its {Period(budget)} {Limit(budget)} AI budget; {RefusedAt(budget, at)}";

    /// <summary>
    /// E.g. <c>Repository "checkout" has $0.40 left of its daily $50 AI budget, a hard cap; this request's estimate of
    /// $0.75 would exceed the hard cap. A smaller request may still fit; refused at 14:32 UTC, it resets at …</c>
    /// A hard cap refuses a request that does not fit before the budget is spent, so "exhausted" would be untrue.
    /// </summary>
    public static string WouldExceedHardCap(CompiledBudget budget, string scope, decimal estimate, CounterState counter, DateTimeOffset at) =>
        $"{Subject(budget, scope)} has {Amount(budget, Math.Max(0m, budget.Limit - counter.Committed))} left of its {Period(budget)} {Limit(budget)} AI budget, a hard cap; "
        + $"this request's estimate of {Amount(budget, estimate)} would exceed the hard cap. A smaller request may still fit; {RefusedAt(budget, at)}";

    /// <summary>The sentence for a refused request: exhausted, or a hard cap this request's estimate would pass.</summary>
    public static string Refused(BudgetAdmission admission)
    {
        var budget = admission.BlockingBudget ?? throw new ArgumentException("the admission was not blocked", nameof(admission));
        var charge = admission.BlockingCharge!;
        return charge.HardCap && BudgetDecision.WouldExceed(charge, admission.BlockingCounter)
            ? WouldExceedHardCap(budget, charge.Scope, charge.Estimate, admission.BlockingCounter, admission.At)
            : Exhausted(budget, charge.Scope, admission.At);
    }

    /// <summary>The dashboard link with the budget preselected.</summary>
    public static string? Dashboard(CompiledBudget budget)
    {
        if (budget.DashboardUrl is null)
        {
            return null;
        }

        var separator = budget.DashboardUrl.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return $"{budget.DashboardUrl}{separator}var-budget={Uri.EscapeDataString(budget.Name)}";
    }

    private static string Limit(CompiledBudget budget) => budget.Unit == BudgetUnit.Usd
        ? "$" + budget.Limit.ToString("0.##", CultureInfo.InvariantCulture)
        : budget.Limit.ToString("#,0", CultureInfo.InvariantCulture) + "-token";

    /// <summary>An amount in the budget's unit, to the cent (never rounded to zero when it is not) or the token.</summary>
    private static string Amount(CompiledBudget budget, decimal amount) => budget.Unit == BudgetUnit.Usd
        ? "$" + amount.ToString(amount is > 0m and < 0.01m ? "0.######" : "0.00", CultureInfo.InvariantCulture)
        : decimal.Ceiling(amount).ToString("#,0", CultureInfo.InvariantCulture) + " tokens";

    private static string Period(CompiledBudget budget) => budget.Period switch
    {
        BudgetPeriod.Day => "daily",
        BudgetPeriod.Week => "weekly",
        _ => "monthly",
    };

    /// <summary>The time is when this request was refused (the ledger does not keep when the budget ran out).</summary>
    private static string RefusedAt(CompiledBudget budget, DateTimeOffset at)
    {
        var reset = PeriodWindow.Containing(budget.Period, at).End;
        return $"refused at {at.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC, "
            + $"it resets at {reset.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC.";
    }

    private static string Subject(CompiledBudget budget, string scope)
    {
        if (budget.AppliesPer.Count != 1 || scope.Length == 0)
        {
            return $"Budget \"{budget.Name}\"";
        }

        var noun = budget.AppliesPer[0] switch
        {
            TagKeys.Repo or TagKeys.MetadataPrefix + TagKeys.Repo => "Repository",
            TagKeys.Team or TagKeys.MetadataPrefix + TagKeys.Team => "Team",
            TagKeys.Pipeline or TagKeys.MetadataPrefix + TagKeys.Pipeline => "Pipeline",
            TagKeys.User or TagKeys.MetadataPrefix + TagKeys.User => "User",
            "namespace" => "Namespace",
            "model" => "Model",
            var key when key.StartsWith(TagKeys.MetadataPrefix, StringComparison.Ordinal) => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(key[TagKeys.MetadataPrefix.Length..].Replace('_', ' ')),
            var key => key,
        };
        return $"{noun} \"{scope}\"";
    }
}
