using Tollgate.Core.Usage;

namespace Tollgate.Core.Pricing;

/// <summary>List prices of one model family in USD per million tokens.</summary>
/// <param name="MaxOutputTokens">
/// The most output tokens (reasoning included) one request to the model can produce, as the provider publishes it;
/// null when the catalog does not say, and then <see cref="SafeMaxOutputTokens"/> bounds the reservation.
/// </param>
public sealed record ModelPrice(
    string Provider,
    string Model,
    decimal Input,
    decimal Output,
    decimal CacheRead,
    decimal CacheWrite,
    string? Source,
    long? MaxOutputTokens = null)
{
    /// <summary>
    /// The output cap of a model whose maximum the catalog does not give (an unknown model priced at the fallback, or
    /// an entry without <c>maxOutputTokens</c>): as large as the largest published maximum of the catalog's time.
    /// </summary>
    public const long SafeMaxOutputTokens = 128_000;

    private const decimal PerMillion = 1_000_000m;

    /// <summary>The most output tokens a reservation for this model needs.</summary>
    public long OutputTokenCap => MaxOutputTokens ?? SafeMaxOutputTokens;

    /// <summary>The cost of <paramref name="usage"/>; reasoning output is billed at the output rate.</summary>
    /// <remarks>Counts are widened to decimal before they are added, so two large counts cannot wrap into a negative cost.</remarks>
    public decimal Cost(TokenUsage usage) =>
        ((usage.Input * Input)
         + (((decimal)usage.Output + usage.Reasoning) * Output)
         + (usage.CacheRead * CacheRead)
         + (usage.CacheWrite * CacheWrite)) / PerMillion;
}
