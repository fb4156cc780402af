using System.Globalization;

namespace Tollgate.Core.Budgets;

/// <summary>The sentences a blocked pipeline reads: who ran out of what, and when.</summary>
public static class BudgetMessages
{
    public const string DefaultMitigation =
        "Review the pipeline's logs for loops or runaway agents, or ask the platform team to raise the budget.";

    /// <summary>E.g. <c>Repository "transaction-service" has exhausted its daily $50 AI budget at 14:32 UTC.</c></summary>
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
        return $"{who} has exhausted its {period} {amount} AI budget at {at.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC.";
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
