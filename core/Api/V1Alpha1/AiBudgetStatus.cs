using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Observed state of an <see cref="AiBudget"/>, written by the operator.</summary>
public sealed class AiBudgetStatus
{
    public long? ObservedGeneration { get; set; }

    public DateTime? PeriodStart { get; set; }

    public decimal Spent { get; set; }

    public decimal Limit { get; set; }

    public decimal UsedPercent { get; set; }

    public decimal Forecast { get; set; }

    /// <summary><c>Ok</c>, <c>Warning</c> or <c>Exceeded</c>.</summary>
    public string? State { get; set; }

    public List<V1Condition> Conditions { get; set; } = [];
}
