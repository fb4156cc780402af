using Tollgate.Core.Usage;

namespace Tollgate.Core.Pricing;

/// <summary>List prices of one model family in USD per million tokens.</summary>
public sealed record ModelPrice(
    string Provider,
    string Model,
    decimal Input,
    decimal Output,
    decimal CacheRead,
    decimal CacheWrite,
    string? Source)
{
    private const decimal PerMillion = 1_000_000m;

    /// <summary>The cost of <paramref name="usage"/>; reasoning output is billed at the output rate.</summary>
    public decimal Cost(TokenUsage usage) =>
        ((usage.Input * Input)
         + ((usage.Output + usage.Reasoning) * Output)
         + (usage.CacheRead * CacheRead)
         + (usage.CacheWrite * CacheWrite)) / PerMillion;
}
