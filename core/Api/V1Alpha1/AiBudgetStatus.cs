using System.ComponentModel.DataAnnotations;
using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Observed state of an <see cref="AiBudget"/>, written by the operator.</summary>
public sealed class AiBudgetStatus
{
    /// <summary>The metadata.generation this status was computed from.</summary>
    [Minimum(0)]
    public long? ObservedGeneration { get; set; }

    /// <summary>Start of the current period (UTC).</summary>
    public DateTime? PeriodStart { get; set; }

    /// <summary>Spent in the current period, in the budget's unit.</summary>
    public decimal Spent { get; set; }

    /// <summary>The limit of the current period, in the budget's unit.</summary>
    public decimal Limit { get; set; }

    /// <summary>Spent as a percentage of the limit.</summary>
    public decimal UsedPercent { get; set; }

    /// <summary>Expected spend by the end of the period, in the budget's unit.</summary>
    public decimal Forecast { get; set; }

    /// <summary><c>Ok</c>, <c>Warning</c> or <c>Exceeded</c>.</summary>
    [AllowedValues("Ok", "Warning", "Exceeded")]
    public string? State { get; set; }

    /// <summary>The latest observations of the budget's state (Ready, and why not).</summary>
    public List<V1Condition> Conditions { get; set; } = [];
}
