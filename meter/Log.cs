using Tollgate.Core.Budgets;
using Tollgate.Core.Pipeline;
using Tollgate.Core.RateLimits;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter;

/// <summary>Source-generated log messages of the meter. Never log prompt or completion text.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Loaded policy from {Source}: {Budgets} budgets, {Rules} routing rules")]
    public static partial void PolicyLoaded(ILogger logger, string source, int budgets, int rules);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Rejected policy change, keeping the last good policy: {Error}")]
    public static partial void PolicyRejected(ILogger logger, string error);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Skipped non-Tollgate document: {Description}")]
    public static partial void PolicyDocumentSkipped(ILogger logger, string description);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Opened ledger {Ledger}; recovered {Recovered} unsettled reservations, skipped {Skipped} unreadable journal lines")]
    public static partial void LedgerOpened(ILogger logger, string ledger, int recovered, int skipped);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Upstream {Provider} request failed with {Error}")]
    public static partial void UpstreamFailed(ILogger logger, string provider, string error, Exception? exception);

    [LoggerMessage(EventId = 6, Level = LogLevel.Debug, Message = "Client aborted the {Provider} request ({Error})")]
    public static partial void ClientAborted(ILogger logger, string provider, string error);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Blocked request to {Model} by budget {Budget} (scope \"{Scope}\")")]
    public static partial void RequestBlocked(ILogger logger, string model, string budget, string scope);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "Ledger unavailable; rejected request under fail-closed budget {Budget}: {Reason}")]
    public static partial void LedgerUnavailable(ILogger logger, string budget, string reason);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Model {Model} of {Provider} is not in the pricing catalog; priced at the fallback rate")]
    public static partial void UnpricedModel(ILogger logger, string provider, string model);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Meter listening on {Proxy} (proxy) and {Admin} (admin), ledger {Ledger}")]
    public static partial void Listening(ILogger logger, string proxy, string admin, string ledger);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Usage of request {RequestId} spooled ({Count} waiting): the ledger is unavailable; it is replayed when the ledger returns")]
    public static partial void UsageSpooled(ILogger logger, string requestId, int count);

    [LoggerMessage(EventId = 14, Level = LogLevel.Critical, Message = "Usage of request {RequestId} could neither be recorded nor spooled to {Spool}")]
    public static partial void UsageLost(ILogger logger, string requestId, string spool, Exception exception);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "Replayed {Count} spooled usage records; {Remaining} left")]
    public static partial void SpoolReplayed(ILogger logger, int count, int remaining);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "{Count} usage records stay spooled; next replay in {Seconds:0.0} s: {Reason}")]
    public static partial void ReplayDeferred(ILogger logger, int count, double seconds, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Request for {Model} rate-limited by routing rule {Rule} ({Kind} per minute)")]
    public static partial void RequestRateLimited(ILogger logger, string model, string rule, string kind);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "Rate limits are not enforced: the shared counters are unavailable ({Reason})")]
    public static partial void RateLimiterUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 17, Level = LogLevel.Error, Message = "Routing rule {Rule} target {Target} skipped: {Reason}")]
    public static partial void RouteTargetSkipped(ILogger logger, string rule, int target, string reason);

    [LoggerMessage(EventId = 18, Level = LogLevel.Information, Message = "Budget {Budget} is exhausted; routing rule {Rule} falls back to {Fallback}")]
    public static partial void BudgetFallback(ILogger logger, string budget, string rule, string fallback);

    [LoggerMessage(EventId = 19, Level = LogLevel.Information, Message = "Request refused by routing rule {Rule}: about {Tokens} input tokens, the limit is {Limit}")]
    public static partial void InputTooLarge(ILogger logger, string rule, long tokens, long limit);

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Refused {Method} {Path}: the endpoint is not metered (--allow-unmetered lets it through)")]
    public static partial void EndpointRefused(ILogger logger, string method, string path);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Forwarded {Method} {Path} unmetered with the client's own key (team {Team}, repo {Repo})")]
    public static partial void UnmeteredForwarded(ILogger logger, string method, string path, string team, string repo);

    [LoggerMessage(EventId = 22, Level = LogLevel.Error, Message = "Request {RequestId} failed inside the meter")]
    public static partial void RequestFailed(ILogger logger, string requestId, Exception exception);

    [LoggerMessage(EventId = 40, Level = LogLevel.Warning, Message = "Label {Label} reached {Max} distinct values; further values are published as __overflow__ (raise --max-label-values if this is legitimate)")]
    public static partial void LabelOverflowed(ILogger logger, string label, int max);

    [LoggerMessage(EventId = 42, Level = LogLevel.Error, Message = "Ledger refused request {RequestId}: {What} {Amount} for budget {Budget} is outside what it records; answered amount_out_of_range")]
    public static partial void LedgerAmountRefused(ILogger logger, string requestId, string budget, string what, decimal amount);

    [LoggerMessage(EventId = 43, Level = LogLevel.Warning, Message = "Ledger journal {Ledger} held {Count} amounts no ledger records (negative or too large); they were skipped, not applied")]
    public static partial void JournalAmountsSkipped(ILogger logger, string ledger, int count);

    [LoggerMessage(EventId = 50, Message = "Key broker answered: {ProviderKeys} provider keys, {Secrets} routing Secrets, ledger credentials {Ledger}; next refresh in {RefreshSeconds} s")]
    public static partial void KeyBrokerAnswered(ILogger logger, LogLevel level, int providerKeys, int secrets, string ledger, int refreshSeconds);

    [LoggerMessage(EventId = 51, Level = LogLevel.Warning, Message = "Key broker fetch failed ({Outcome}, {Failures} in a row): {Reason}; keeping the last credentials it gave, retrying in {RetrySeconds} s")]
    public static partial void KeyBrokerFailed(ILogger logger, string outcome, int failures, string reason, int retrySeconds);

    [LoggerMessage(EventId = 52, Level = LogLevel.Information, Message = "Key broker answered again after {Failures} failed fetches")]
    public static partial void KeyBrokerRecovered(ILogger logger, int failures);

    /// <summary>Why the admit stage refused a request, in the line its cause has always had.</summary>
    public static void Refused(ILogger logger, AdmitRefused refused)
    {
        switch (refused)
        {
            case InputTooLarge input:
                InputTooLarge(logger, input.Route.Name, input.Measured, input.Limit);
                break;
            case RateLimited limited:
                RequestRateLimited(logger, refused.Request.Model, limited.Rule.Key, limited.Limit.Kind == RateLimitKind.Requests ? "requests" : "tokens");
                break;
            case BudgetRefused { BudgetAdmission: { Kind: AdmissionKind.Blocked } admission }:
                RequestBlocked(logger, refused.Request.Model, admission.BlockingBudget!.Name, admission.BlockingCharge!.Scope);
                break;
            case BudgetRefused { BudgetAdmission: var admission }:
                LedgerUnavailable(logger, admission.BlockingBudget!.Name, admission.Reason ?? string.Empty);
                break;
        }
    }

    /// <summary>A forward that failed: a client that left is routine (debug), anything else a warning with the cause.</summary>
    public static void ForwardFailed(ILogger logger, string provider, ForwarderError error, Exception? exception)
    {
        if (error is ForwarderError.RequestCanceled or ForwarderError.ResponseBodyCanceled or ForwarderError.RequestBodyCanceled)
        {
            if (logger.IsEnabled(LogLevel.Debug))
            {
                ClientAborted(logger, provider, error.ToString());
            }
        }
        else
        {
            UpstreamFailed(logger, provider, error.ToString(), exception);
        }
    }
}
