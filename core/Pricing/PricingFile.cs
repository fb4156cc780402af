namespace Tollgate.Core.Pricing;

/// <summary>The on-disk shape of <c>config/pricing/models.yaml</c>.</summary>
internal sealed class PricingFile
{
    public int Version { get; set; }

    public string Currency { get; set; } = "usd";

    public PricingFallback Fallback { get; set; } = new();

    public List<PricingEntry> Models { get; set; } = [];
}

internal sealed class PricingFallback
{
    /// <summary><c>max</c>: the most expensive catalog rate of each token type; <c>fixed</c>: the rates below.</summary>
    public string Mode { get; set; } = "max";

    public decimal? Input { get; set; }

    public decimal? Output { get; set; }

    public decimal? CacheRead { get; set; }

    public decimal? CacheWrite { get; set; }

    /// <summary>The output cap of models not in the catalog; <see cref="ModelPrice.SafeMaxOutputTokens"/> when absent.</summary>
    public long? MaxOutputTokens { get; set; }
}

internal sealed class PricingEntry
{
    public string Provider { get; set; } = string.Empty;

    public string Model { get; set; } = string.Empty;

    public List<string> Aliases { get; set; } = [];

    public decimal? Input { get; set; }

    public decimal? Output { get; set; }

    public decimal? CacheRead { get; set; }

    public decimal? CacheWrite { get; set; }

    /// <summary>The published maximum output tokens per request; optional (embedding models have none).</summary>
    public long? MaxOutputTokens { get; set; }

    public string? Source { get; set; }
}
