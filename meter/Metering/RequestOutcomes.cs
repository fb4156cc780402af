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
}
