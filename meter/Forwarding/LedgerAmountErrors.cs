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

    public static async Task InvokeAsync(HttpContext context, RequestDelegate next, ILogger logger)
    {
        try
        {
            await next(context);
        }
        catch (LedgerAmountException ex)
        {
            var requestId = context.Response.Headers["x-tollgate-request-id"].ToString();
            Log.LedgerAmountRefused(logger, requestId, ex.Budget, ex.What, ex.Amount);
            if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            context.Response.Headers["x-should-retry"] = "false";
            var message = string.Create(CultureInfo.InvariantCulture,
                $"The meter refused this request: its {ex.What} of {ex.Amount} for budget \"{ex.Budget}\" is outside what the spend ledger records (0 to {LedgerAmounts.Maximum}). Nothing was reserved and the request was not forwarded. This is a fault of the meter or its pricing catalog, not a budget decision: report it to the platform team with the request id.");
            await ErrorResponses.WriteAsync(context, StatusCodes.Status500InternalServerError, DialectRouter.Route(context.Request), ErrorType, message, json =>
            {
                json.WriteString("rule_id", ex.Budget);
                if (requestId.Length > 0)
                {
                    json.WriteString("request_id", requestId);
                }
            });
        }
    }
}
