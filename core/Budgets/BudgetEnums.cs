namespace Tollgate.Core.Budgets;

/// <summary>What a budget counts.</summary>
public enum BudgetUnit
{
    Usd,
    Tokens,
}

/// <summary>A calendar period in UTC.</summary>
public enum BudgetPeriod
{
    Day,
    Week,
    Month,
}

/// <summary>What a budget does when the ledger cannot be reached.</summary>
public enum FailurePolicy
{
    Closed,
    Open,
}
