namespace Tollgate.Meter.Metering;

/// <summary>Values of the <c>outcome</c> label of <c>tollgate_requests_total</c>.</summary>
internal static class RequestOutcomes
{
    public const string Forwarded = "forwarded";
    public const string Blocked = "blocked";
    public const string Cached = "cached";
    public const string Fallback = "fallback";
    public const string Rejected = "rejected";
    public const string UpstreamError = "upstream_error";

    /// <summary>A free endpoint (model lists, token counting, moderation): forwarded with the meter's key, never priced.</summary>
    public const string Unbilled = "unbilled";

    /// <summary>An endpoint let through by <c>--allow-unmetered</c>: forwarded with the client's own key, never priced.</summary>
    public const string Unmetered = "unmetered";
}
