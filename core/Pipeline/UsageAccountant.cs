using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// The account stage: what a forwarded request used and cost. Usage comes from the provider's own fields when it
/// reported them and is estimated only when it did not; the price is looked up once, for the model that served, and
/// that one cost goes to the budgets, the event, the metrics and the cache.
/// </summary>
public sealed class UsageAccountant(PricingCatalog pricing)
{
    /// <param name="request">The request.</param>
    /// <param name="observation">What the response body showed, or null when it was never seen.</param>
    /// <param name="billable">False for calls the provider never bills: they cost nothing.</param>
    /// <param name="answered">Whether the provider's response reached the client at all; if not, nothing was used.</param>
    /// <param name="cut">Whether the exchange broke off (the client or the upstream left) before it completed.</param>
    /// <param name="status">The status the client received.</param>
    /// <param name="inputEstimate">The input estimate, computed only if it is needed.</param>
    /// <param name="outputEstimate">The reserved output.</param>
    public Accounted Account(MeteredRequest request, UsageObservation? observation, bool billable, bool answered, bool cut, int status,
        Func<long> inputEstimate, long outputEstimate)
    {
        var estimated = false;
        var usage = answered ? ActualUsage(observation, inputEstimate, outputEstimate, cut, status, out estimated) : TokenUsage.Zero;
        var model = observation?.Model ?? request.Model;
        var price = pricing.Resolve(request.Provider, model);
        return new Accounted(model, usage, estimated, billable ? price.Price.Cost(usage) : 0m, price.Known);
    }

    private static TokenUsage ActualUsage(UsageObservation? observation, Func<long> inputEstimate, long outputEstimate, bool cut, int status, out bool estimated)
    {
        estimated = false;
        if (observation is { ReportedByProvider: true })
        {
            return observation.Usage;
        }

        if (status >= 400)
        {
            // Providers do not bill failed requests; an error body carries no usage.
            return observation?.Usage ?? TokenUsage.Zero;
        }

        // No usage report. Keep what the provider did report (Anthropic's message_start has the input) and estimate the rest.
        // A cut stream (the client or the upstream left) ran as far as its content events, at least one token each; a response
        // that completed and still reported nothing is charged its whole reservation, so that hiding usage never pays.
        estimated = true;
        var partial = observation?.Usage ?? TokenUsage.Zero;
        var input = partial.Input + partial.CacheRead + partial.CacheWrite > 0 ? partial.Input : inputEstimate();
        var seen = Math.Max(partial.Output, observation?.DeltaEvents ?? 0);
        var output = cut ? Math.Max(seen, 1) : Math.Max(seen, outputEstimate);
        return partial with { Input = input, Output = output };
    }
}

/// <summary>What a request used and cost.</summary>
/// <param name="Model">The model that served (the provider's word for it, else the one requested).</param>
/// <param name="Usage">Billed tokens by disjoint type.</param>
/// <param name="Estimated">True when the provider reported no usage and <paramref name="Usage"/> is the meter's estimate.</param>
/// <param name="CostUsd">The cost, priced once.</param>
/// <param name="PriceKnown">False when the catalog did not know the model and the fail-safe price applied.</param>
public sealed record Accounted(string Model, TokenUsage Usage, bool Estimated, decimal CostUsd, bool PriceKnown);
