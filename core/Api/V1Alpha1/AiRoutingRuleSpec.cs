namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Desired state of an <see cref="AiRoutingRule"/>.</summary>
public sealed class AiRoutingRuleSpec
{
    /// <summary>Higher priorities are evaluated first; ties are broken by name.</summary>
    public int Priority { get; set; }

    public RequestMatch Match { get; set; } = new();

    public RouteSpec? Route { get; set; }

    public RouteLimits? Limits { get; set; }

    public ResponseCacheSpec? Cache { get; set; }

    public FallbackSpec? Fallback { get; set; }
}

/// <summary>Where matching requests go.</summary>
public sealed class RouteSpec
{
    /// <summary>Tried in order; the next one on failure, open circuit or exhausted budget.</summary>
    public List<RouteTarget> Targets { get; set; } = [];

    public RetrySpec? Retry { get; set; }

    public CircuitBreakerSpec? CircuitBreaker { get; set; }

    /// <summary>How long one attempt may wait for the response to start (headers), in seconds. Default 60.</summary>
    public int TimeoutSeconds { get; set; } = 60;
}

public sealed class RouteTarget
{
    /// <summary><c>anthropic</c> or <c>openai</c>.</summary>
    public string Provider { get; set; } = string.Empty;

    public string Model { get; set; } = string.Empty;

    public string? BaseUrl { get; set; }

    public SecretKeyRef? ApiKeySecretRef { get; set; }
}

public sealed class SecretKeyRef
{
    public string Name { get; set; } = string.Empty;

    public string Key { get; set; } = string.Empty;
}

public sealed class RetrySpec
{
    public int Attempts { get; set; } = 2;

    /// <summary><c>exponential</c> or <c>constant</c>.</summary>
    public string Backoff { get; set; } = "exponential";
}

public sealed class CircuitBreakerSpec
{
    public double FailureRatio { get; set; } = 0.5;

    public int BreakSeconds { get; set; } = 30;
}

public sealed class RouteLimits
{
    public long? MaxInputTokens { get; set; }

    public int? RequestsPerMinute { get; set; }

    public long? TokensPerMinute { get; set; }
}

public sealed class ResponseCacheSpec
{
    public bool Enabled { get; set; }

    public int TtlSeconds { get; set; } = 3600;
}

public sealed class FallbackSpec
{
    public BudgetFallback? OnBudgetExceeded { get; set; }
}

public sealed class BudgetFallback
{
    /// <summary>Model to use instead when the budget is exhausted.</summary>
    public string? Model { get; set; }

    /// <summary>A fixed response text returned instead of calling the provider.</summary>
    public string? Response { get; set; }
}
