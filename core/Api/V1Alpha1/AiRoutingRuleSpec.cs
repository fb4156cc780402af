using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Desired state of an <see cref="AiRoutingRule"/>.</summary>
public sealed class AiRoutingRuleSpec
{
    /// <summary>Higher priorities are evaluated first; ties are broken by name.</summary>
    public int Priority { get; set; }

    /// <summary>Which requests the rule takes. Every given condition must hold; an empty match selects every request.</summary>
    public RequestMatch Match { get; set; } = new();

    /// <summary>Where matching requests go; without a route they go to the meter's upstream with the model they asked for.</summary>
    public RouteSpec? Route { get; set; }

    /// <summary>Caps on the size and rate of matching requests.</summary>
    public RouteLimits? Limits { get; set; }

    /// <summary>The exact-match response cache, scoped per team.</summary>
    public ResponseCacheSpec? Cache { get; set; }

    /// <summary>What to do instead of blocking.</summary>
    public FallbackSpec? Fallback { get; set; }
}

/// <summary>Where matching requests go.</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = SchemaMetadata.DataAnnotationsOnly)]
public sealed class RouteSpec
{
    /// <summary>Tried in order; the next one on failure, open circuit or exhausted budget. At least one.</summary>
    [Required]
    [MinLength(1)]
    public List<RouteTarget> Targets { get; set; } = [];

    /// <summary>Retries of one target before moving to the next; honours Retry-After and never retries a started stream.</summary>
    public RetrySpec? Retry { get; set; }

    /// <summary>Stops sending to a target that keeps failing, for a while.</summary>
    public CircuitBreakerSpec? CircuitBreaker { get; set; }

    /// <summary>How long one attempt may wait for the response to start (headers), in seconds. Default 60.</summary>
    [Minimum(1)]
    [Maximum(3600)]
    [Defaulted]
    public int TimeoutSeconds { get; set; } = 60;
}

/// <summary>A provider and model to send requests to.</summary>
public sealed class RouteTarget
{
    /// <summary><c>anthropic</c> or <c>openai</c>.</summary>
    [Required]
    [AllowedValues("anthropic", "openai")]
    public string Provider { get; set; } = string.Empty;

    /// <summary>The model the request is sent to.</summary>
    [Required]
    [Pattern(@"\S")]
    public string Model { get; set; } = string.Empty;

    /// <summary>The provider's origin with an optional path prefix (no query); the request path is appended to it.</summary>
    [Pattern(@"^https?://[^\s/?#]+[^\s?]*$")]
    public string? BaseUrl { get; set; }

    /// <summary>A Secret key holding the provider API key to use instead of the meter's default one.</summary>
    public SecretKeyRef? ApiKeySecretRef { get; set; }
}

/// <summary>A key of a Secret, mounted into the meter sidecar only.</summary>
[CelValidation("self.key != '.' && self.key != '..'", "key must not be . or ..")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = SchemaMetadata.DataAnnotationsOnly)]
public sealed class SecretKeyRef
{
    /// <summary>The Secret's name.</summary>
    [Required]
    [MaxLength(253)]
    [Pattern(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    public string Name { get; set; } = string.Empty;

    /// <summary>The key within the Secret.</summary>
    [Required]
    [MaxLength(253)]
    [Pattern("^[-._a-zA-Z0-9]+$")]
    public string Key { get; set; } = string.Empty;
}

/// <summary>How one target is retried.</summary>
public sealed class RetrySpec
{
    /// <summary>Retries after the first attempt of each target, from 0 to 10. Default 2.</summary>
    [Minimum(0)]
    [Maximum(10)]
    [Defaulted]
    public int Attempts { get; set; } = 2;

    /// <summary><c>exponential</c> or <c>constant</c>.</summary>
    [AllowedValues("exponential", "constant")]
    [Defaulted]
    public string Backoff { get; set; } = "exponential";
}

/// <summary>When a target is taken out of rotation and for how long.</summary>
public sealed class CircuitBreakerSpec
{
    /// <summary>The share of failed attempts, above 0 and at most 1, that opens the circuit. Default 0.5.</summary>
    [Minimum(0, Exclusive = true)]
    [Maximum(1)]
    [Defaulted]
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>How long an open circuit stays open, in seconds. Default 30.</summary>
    [Minimum(1)]
    [Defaulted]
    public int BreakSeconds { get; set; } = 30;
}

/// <summary>Caps on matching requests; each is optional.</summary>
public sealed class RouteLimits
{
    /// <summary>Requests estimated above this many input tokens are refused before they reach the provider.</summary>
    [Minimum(1)]
    public long? MaxInputTokens { get; set; }

    /// <summary>Requests per sliding minute, shared by every request the rule applies to across every meter.</summary>
    [Minimum(1)]
    public int? RequestsPerMinute { get; set; }

    /// <summary>Billed tokens per sliding minute, shared by every request the rule applies to across every meter.</summary>
    [Minimum(1)]
    public long? TokensPerMinute { get; set; }
}

/// <summary>The exact-match response cache.</summary>
public sealed class ResponseCacheSpec
{
    /// <summary>True serves repeated identical requests from the cache.</summary>
    public bool Enabled { get; set; }

    /// <summary>How long a response stays cached, in seconds. Default 3600.</summary>
    [Minimum(1)]
    [Defaulted]
    public int TtlSeconds { get; set; } = 3600;
}

/// <summary>Alternatives to blocking.</summary>
public sealed class FallbackSpec
{
    /// <summary>What to do when a budget would block the request.</summary>
    public BudgetFallback? OnBudgetExceeded { get; set; }
}

/// <summary>Either a cheaper model or a fixed response; exactly one of the two.</summary>
[CelValidation("has(self.model) != has(self.response)", "set exactly one of model or response")]
public sealed class BudgetFallback
{
    /// <summary>Model to use instead when the budget is exhausted.</summary>
    public string? Model { get; set; }

    /// <summary>A fixed response text returned instead of calling the provider.</summary>
    public string? Response { get; set; }
}
