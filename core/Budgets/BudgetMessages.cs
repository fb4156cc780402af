using System.Globalization;

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
    public static string Exhausted(CompiledBudget budget, string scope, DateTimeOffset at)
    {
        var who = Subject(budget, scope);
        var amount = budget.Unit == BudgetUnit.Usd
            ? "$" + budget.Limit.ToString("0.##", CultureInfo.InvariantCulture)
            : budget.Limit.ToString("#,0", CultureInfo.InvariantCulture) + "-token";
        var period = budget.Period switch
        {
            BudgetPeriod.Day => "daily",
            BudgetPeriod.Week => "weekly",
            _ => "monthly",
        };
        var reset = PeriodWindow.Containing(budget.Period, at).End;
        return $"{who} has exhausted its {period} {amount} AI budget; refused at {at.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC, "
            + $"it resets at {reset.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC.";
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

    private static string Subject(CompiledBudget budget, string scope)
    {
        if (budget.AppliesPer.Count != 1 || scope.Length == 0)
        {
            return $"Budget \"{budget.Name}\"";
        }

        var noun = budget.AppliesPer[0] switch
        {
            "repo" or "metadata.repo" => "Repository",
            "team" or "metadata.team" => "Team",
            "pipeline" or "metadata.pipeline" => "Pipeline",
            "user" or "metadata.user" => "User",
            "namespace" => "Namespace",
            "model" => "Model",
            var key when key.StartsWith("metadata.", StringComparison.Ordinal) => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(key["metadata.".Length..].Replace('_', ' ')),
            var key => key,
        };
        return $"{noun} \"{scope}\"";
    }
}
