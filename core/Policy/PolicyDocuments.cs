using Tollgate.Core.Api.V1Alpha1;

namespace Tollgate.Core.Policy;

/// <summary>The custom resources read from policy files, before compilation.</summary>
public sealed record PolicyDocuments(IReadOnlyList<AiBudget> Budgets, IReadOnlyList<AiRoutingRule> RoutingRules, IReadOnlyList<string> Ignored);
