using System.Globalization;
using Tollgate.Core.Budgets;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Pipeline;

/// <summary>The refusals of the admit stage: status, error and headers, in the client's API's error shape.</summary>
public static class AdmissionRefusals
{
    public static Refusal InputTooLarge(ApiDialect dialect, string rule, long measured, long limit) =>
        new(413, Providers.Of(dialect), "request_too_large",
            $"The request has about {measured} input tokens; routing rule \"{rule}\" allows at most {limit} (limits.maxInputTokens). Trim the context (summarise history, send fewer files) and retry.",
            json =>
            {
                json.WriteString("rule_id", rule);
                json.WriteNumber("max_input_tokens", limit);
                json.WriteNumber("measured_input_tokens", measured);
            });

    /// <summary>
    /// A routing rule's request or token limit: 429 with <c>Retry-After</c> to when the window has room and
    /// <c>x-should-retry: true</c>, so SDKs wait and retry by themselves (unlike a spent budget, this passes).
    /// </summary>
    public static Refusal RateLimited(ApiDialect dialect, RateLimitCharge rule, RateLimitResult result)
    {
        var unit = result.Kind == RateLimitKind.Requests ? "requests" : "tokens";
        var seconds = (long)result.RetryAfter.TotalSeconds;
        var detail = $"Routing rule \"{rule.Key}\" allows {result.Limit} {unit} per minute and that is reached; retry in {seconds} s.";
        return new Refusal(429, Providers.Of(dialect), "rate_limit_exceeded", detail, json =>
        {
            json.WriteString("rule_id", rule.Key);
            json.WriteString("detail", detail);
            json.WriteString("mitigation", "The SDK retries after Retry-After; if this recurs, spread the pipeline's requests or ask the platform team to raise the rule's limits.");
        })
        {
            Headers = [new("Retry-After", seconds.ToString(CultureInfo.InvariantCulture)), new("x-should-retry", "true"), new("x-tollgate-rate-limit", rule.Key)],
        };
    }

    /// <summary>
    /// A budget's refusal. Spent: the budget-exceeded contract, 429 with <c>Retry-After</c> to the period's reset and
    /// <c>x-should-retry: false</c>. Unreachable under a fail-closed budget: 503, retry shortly.
    /// </summary>
    public static Refusal Budget(ApiDialect dialect, BudgetAdmission admission)
    {
        var budget = admission.BlockingBudget!;
        if (admission.Kind == AdmissionKind.LedgerUnavailable)
        {
            return new Refusal(503, Providers.Of(dialect), "ledger_unavailable",
                $"Budget \"{budget.Name}\" cannot be checked because the spend ledger is unavailable ({admission.Reason}); it fails closed. Retry shortly.")
            {
                Headers = [new("Retry-After", "5")],
            };
        }

        var detail = BudgetMessages.Refused(admission);
        return new Refusal(429, Providers.Of(dialect), "budget_exceeded", detail, json =>
        {
            json.WriteString("rule_id", budget.Name);
            json.WriteString("detail", detail);
            json.WriteString("mitigation", budget.Mitigation ?? BudgetMessages.DefaultMitigation);
            if (BudgetMessages.Dashboard(budget) is { } dashboard)
            {
                json.WriteString("dashboard", dashboard);
            }
        })
        {
            Headers =
            [
                new("Retry-After", admission.BlockingCharge!.Window.SecondsUntilEnd(admission.At).ToString(CultureInfo.InvariantCulture)),
                new("x-should-retry", "false"),
                new("x-tollgate-budget", budget.Name),
            ],
        };
    }
}
