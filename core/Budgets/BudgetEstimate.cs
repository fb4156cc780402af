using Tollgate.Core.Usage;

namespace Tollgate.Core.Budgets;

/// <summary>A conservative upper estimate of a request's tokens and cost, reserved before it is forwarded.</summary>
public sealed record BudgetEstimate(TokenUsage Tokens, decimal Cost);
