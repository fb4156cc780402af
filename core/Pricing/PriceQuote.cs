namespace Tollgate.Core.Pricing;

/// <summary>The price used for a model, and whether the catalog knew it.</summary>
/// <param name="Price">The rates applied.</param>
/// <param name="Known">False when the model is not in the catalog and the fail-safe fallback price applies.</param>
public sealed record PriceQuote(ModelPrice Price, bool Known);
