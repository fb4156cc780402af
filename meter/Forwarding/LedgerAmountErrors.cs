using System.Globalization;
using Tollgate.Core.Ledger;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// Turns a ledger's refusal of an amount (<see cref="LedgerAmountException"/>) into the meter's JSON error contract: 500
/// <c>amount_out_of_range</c> with <c>x-should-retry: false</c> and the request id, instead of an empty 500. The ledger
/// refused before recording anything and the request was not forwarded, so nothing is spent and nothing passes.
/// </summary>
/// <remarks>
/// No request can cause this on its own (the reservation is capped at the model's maximum output and the catalog's
/// rates are bounded); it means a meter fault or a forged amount, so it is an error of the meter, never a budget answer.
/// A refusal after the response started (at settlement) is only logged: the usage recorder has already kept the
/// reservation charged at its estimate.
/// </remarks>
internal static class LedgerAmountErrors
{
    public const string ErrorType = "amount_out_of_range";

    /// <summary>Answers a request whose amount the ledger refused (before the response started).</summary>
    public static Task WriteAsync(HttpContext context, LedgerAmountException refusal, string provider)
    {
        context.Response.Headers["x-should-retry"] = "false";
        var message = string.Create(CultureInfo.InvariantCulture,
            $"The meter refused this request: its {refusal.What} of {refusal.Amount} for budget \"{refusal.Budget}\" is outside what the spend ledger records (0 to {LedgerAmounts.Maximum}). Nothing was reserved and the request was not forwarded. This is a fault of the meter or its pricing catalog, not a budget decision: report it to the platform team with the request id.");
        return ErrorResponses.WriteAsync(context, StatusCodes.Status500InternalServerError, provider, ErrorType, message,
            json => json.WriteString("rule_id", refusal.Budget));
    }
}
