using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Budgets;

/// <summary>A conservative upper estimate of a request's tokens and cost, reserved before it is forwarded.</summary>
public sealed record BudgetEstimate(TokenUsage Tokens, decimal Cost)
{
    private const decimal PerMillion = 1_000_000m;

    /// <summary>
    /// The reservation for a request to the model <paramref name="price"/> describes: the input at its dearest rate (a
    /// prompt may turn out to be a cache write, which costs more than plain input) and the output the request may
    /// produce, which is what it asks for but never more than the model can produce (<see cref="ModelPrice.OutputTokenCap"/>).
    /// </summary>
    /// <remarks>
    /// The cap is what keeps a client's <c>max_tokens</c> (up to Int64.MaxValue) from becoming the reservation: the
    /// provider refuses or truncates beyond the model's maximum anyway, so reserving more only blocks other requests.
    /// </remarks>
    /// <param name="requestedOutputTokens">The request's output cap, or the meter's default when it set none; a negative value reserves the model's cap.</param>
    public static BudgetEstimate Reserve(ModelPrice price, long inputTokens, long requestedOutputTokens)
    {
        var input = Math.Max(0, inputTokens);
        var cap = price.OutputTokenCap;
        var output = requestedOutputTokens is < 0 ? cap : Math.Min(requestedOutputTokens, cap);
        var inputRate = Math.Max(price.Input, Math.Max(price.CacheWrite, price.CacheRead));
        var cost = ((input * inputRate) + (output * price.Output)) / PerMillion;
        return new BudgetEstimate(new TokenUsage(input, output, 0, 0, 0), cost);
    }
}
