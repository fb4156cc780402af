namespace Tollgate.Core.Metrics;

/// <summary>Values of the <c>outcome</c> label of <c>tollgate_requests_total</c> and of <see cref="Events.UsageEvent.Outcome"/>.</summary>
public static class RequestOutcomes
{
    public const string Forwarded = "forwarded";
    public const string Blocked = "blocked";
    public const string Cached = "cached";
    public const string Fallback = "fallback";

    /// <summary>Refused by the meter itself: a bad path, tags or body, an endpoint it does not meter, a body too large, no keys, the ledger down for a closed budget.</summary>
    public const string Rejected = "rejected";

    public const string UpstreamError = "upstream_error";

    /// <summary>A free endpoint (model lists, token counting, moderation): forwarded with the meter's key, never priced.</summary>
    public const string Unbilled = "unbilled";

    /// <summary>An endpoint let through by <c>--allow-unmetered</c>: forwarded with the client's own key, never priced.</summary>
    public const string Unmetered = "unmetered";

    /// <summary>
    /// The meter failed: an unexpected fault (500 <c>internal_error</c>) or an amount the ledger refuses to record (500
    /// <c>amount_out_of_range</c>). Nothing was sent upstream unless the fault came after the response started.
    /// </summary>
    public const string Error = "error";

    /// <summary>The client went away before the meter answered it (status 499, nothing was answered); nothing was sent upstream.</summary>
    public const string Aborted = "aborted";

    /// <summary>The status an aborted request's event carries: the client received none (the convention of nginx's 499).</summary>
    public const int ClientClosedRequestStatus = 499;

    public static IReadOnlyList<string> All { get; } = [Forwarded, Blocked, Cached, Fallback, Rejected, UpstreamError, Unbilled, Unmetered, Error, Aborted];
}
