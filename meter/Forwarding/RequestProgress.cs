using Tollgate.Core.Pipeline;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// How far one request got, for the handler's last resort: the latest <see cref="MeteredRequest"/>, the outcome once it
/// is counted in the metrics, and whether its usage event has gone out. Whatever ends the request (an answer, a fault,
/// the client leaving), it is counted once and published once, under the same outcome. One per request, never shared.
/// </summary>
internal sealed class RequestProgress(MeteredRequest request)
{
    /// <summary>The request as the stages have learnt it so far; replaced, never changed, as they learn more.</summary>
    public MeteredRequest Request { get; set; } = request;

    /// <summary>The outcome the metrics counted the request under, or null before that.</summary>
    public string? CountedOutcome { get; set; }

    /// <summary>Whether settlement (and with it the usage event) was started.</summary>
    public bool Settled { get; set; }
}
