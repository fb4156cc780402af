using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Desired state of an <see cref="AiBudget"/>.</summary>
[CelValidation("!has(self.hardCap) || !self.hardCap || !has(self.enforcement) || self.enforcement != 'audit'",
    "hardCap cannot be true when enforcement is audit (an audit budget never blocks)")]
public sealed class AiBudgetSpec
{
    /// <summary>Higher priorities are evaluated first; ties are broken by name. Default 0.</summary>
    public int Priority { get; set; }

    /// <summary>Which requests the budget counts. Every given condition must hold; an empty match selects every request.</summary>
    public RequestMatch Match { get; set; } = new();

    /// <summary>How much may be spent per period.</summary>
    [Required]
    public BudgetLimit Limit { get; set; } = new();

    /// <summary>
    /// Keys that split the budget into one counter per distinct value: <c>user</c>, <c>namespace</c>, <c>model</c>,
    /// <c>team</c>, <c>repo</c>, <c>pipeline</c> or <c>metadata.&lt;key&gt;</c>. Empty means one shared counter.
    /// </summary>
    [Pattern(@"^(user|namespace|model|team|repo|pipeline|metadata\..+)$")]
    public List<string> AppliesPer { get; set; } = [];

    /// <summary><c>block</c> (default) rejects requests once exhausted; <c>audit</c> only tracks and alerts.</summary>
    [AllowedValues("block", "audit")]
    [Defaulted]
    public string Enforcement { get; set; } = "block";

    /// <summary>When true the budget blocks whenever it is exhausted, even if it is not the first match.</summary>
    public bool HardCap { get; set; }

    /// <summary>What to do when the ledger is unreachable: <c>closed</c> (default) rejects, <c>open</c> allows and spools usage.</summary>
    [AllowedValues("closed", "open")]
    [Defaulted]
    public string FailurePolicy { get; set; } = "closed";

    /// <summary>Alert thresholds in percent of the limit. Default 75, 90, 95, 100.</summary>
    [Defaulted]
    public BudgetAlerts Alerts { get; set; } = new();

    /// <summary>Text returned to a blocked pipeline so its owners know what to do.</summary>
    public BudgetMessage Message { get; set; } = new();
}

/// <summary>Conditions a request must meet. All given conditions must hold.</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = SchemaMetadata.DataAnnotationsOnly)]
public sealed class RequestMatch
{
    /// <summary>
    /// Namespaces the request must come from (standalone requests come from the empty namespace). Leave it out to
    /// match every namespace; an empty list is refused, as it would read as "no namespace" but select them all.
    /// </summary>
    [Pattern("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    [MinLength(1)]
    public List<string>? Namespaces { get; set; }

    /// <summary>A label selector over the labels of the request's namespace.</summary>
    public LabelSelector? NamespaceSelector { get; set; }

    /// <summary>
    /// Subjects such as <c>team:payments</c>, <c>repo:transaction-service</c> or <c>user:alice</c>; any may match. Leave it
    /// out to match every subject; an empty list is refused.
    /// </summary>
    [Pattern("^(team|user|repo|pipeline):.+$")]
    [MinLength(1)]
    public List<string>? Subjects { get; set; }

    /// <summary>Model name globs (<c>*</c> and <c>?</c>); any may match. Leave it out to match every model; an empty list is refused.</summary>
    [Pattern(@"\S")]
    [MinLength(1)]
    public List<string>? Models { get; set; }

    /// <summary>Request metadata that must be present with these values (globs allowed).</summary>
    public Dictionary<string, string> Metadata { get; set; } = [];
}

/// <summary>A Kubernetes-style label selector (matchLabels only plus matchExpressions).</summary>
public sealed class LabelSelector
{
    /// <summary>Labels the namespace must carry with exactly these values.</summary>
    public Dictionary<string, string> MatchLabels { get; set; } = [];

    /// <summary>Further requirements on the namespace's labels; all must hold.</summary>
    public List<LabelSelectorRequirement> MatchExpressions { get; set; } = [];
}

/// <summary>One requirement of a label selector: <c>In</c>, <c>NotIn</c>, <c>Exists</c> or <c>DoesNotExist</c>.</summary>
[CelValidation("!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
    "values must not be empty when operator is In or NotIn")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = SchemaMetadata.DataAnnotationsOnly)]
public sealed class LabelSelectorRequirement
{
    /// <summary>The label key the requirement is about.</summary>
    [Required]
    [MinLength(1)]
    public string Key { get; set; } = string.Empty;

    /// <summary><c>In</c>, <c>NotIn</c>, <c>Exists</c> or <c>DoesNotExist</c>.</summary>
    [Required]
    [AllowedValues("In", "NotIn", "Exists", "DoesNotExist")]
    public string Operator { get; set; } = string.Empty;

    /// <summary>The values for <c>In</c> and <c>NotIn</c>; ignored by <c>Exists</c> and <c>DoesNotExist</c>.</summary>
    public List<string> Values { get; set; } = [];
}

/// <summary>An amount per calendar period (UTC).</summary>
public sealed class BudgetLimit
{
    /// <summary>The amount, in dollars or tokens depending on <see cref="Unit"/>. Must be positive.</summary>
    [Required]
    [CelValidation("self > 0.0", "must be greater than 0")]
    public decimal Amount { get; set; }

    /// <summary><c>usd</c> or <c>tokens</c> (every billed token: input, output, cached and reasoning).</summary>
    [AllowedValues("usd", "tokens")]
    [Defaulted]
    public string Unit { get; set; } = "usd";

    /// <summary><c>day</c>, <c>week</c> (ISO weeks, from Monday) or <c>month</c>, all in UTC.</summary>
    [AllowedValues("day", "week", "month")]
    [Defaulted]
    public string Period { get; set; } = "day";
}

/// <summary>Alerting thresholds in percent.</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = SchemaMetadata.DataAnnotationsOnly)]
public sealed class BudgetAlerts
{
    /// <summary>Percentages of the limit at which to alert, in ascending order, each from 1 to 100.</summary>
    [Minimum(1)]
    [Maximum(100)]
    [MaxLength(10)]
    [UniqueItems]
    [CelValidation("self.isSorted()", "thresholds must be in ascending order")]
    [Defaulted]
    public List<int> Thresholds { get; set; } = [75, 90, 95, 100];
}

/// <summary>What a blocked pipeline is told.</summary>
public sealed class BudgetMessage
{
    /// <summary>What the pipeline's owners should do next.</summary>
    public string? Mitigation { get; set; }

    /// <summary>A dashboard URL; the budget name is appended as <c>var-budget</c>.</summary>
    [Pattern(@"^https?://[^\s/?#]+\S*$")]
    public string? DashboardUrl { get; set; }
}
