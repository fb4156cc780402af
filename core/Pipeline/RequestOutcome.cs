using Tollgate.Core.Events;
using Tollgate.Core.Metrics;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Pipeline;

/// <summary>How one request ended: what the client got, what was used and what it cost. Zero usage unless set.</summary>
/// <param name="Outcome">The <see cref="RequestOutcomes"/> value.</param>
/// <param name="Status">The HTTP status the client received.</param>
/// <param name="Latency">From arrival to the end of the response; measured once, for the event and the meter's histogram alike.</param>
public sealed record RequestOutcome(string Outcome, int Status, TimeSpan Latency)
{
    /// <summary>The model that served the request, when it differs from (or was unknown in) the request.</summary>
    public string? Model { get; init; }

    /// <summary>Whether the response was an event stream, when that is known only from the response.</summary>
    public bool? Streaming { get; init; }

    public TokenUsage Usage { get; init; } = TokenUsage.Zero;

    /// <summary>True when the provider never reported usage and <see cref="Usage"/> is the meter's estimate.</summary>
    public bool Estimated { get; init; }

    public decimal CostUsd { get; init; }

    public TimeSpan? TimeToFirstToken { get; init; }

    public RouteDecision? Route { get; init; }

    /// <summary>hit, miss or stored when the routing rule caches.</summary>
    public string? Cache { get; init; }

    /// <summary>On a cache hit, what the provider call it avoided cost.</summary>
    public decimal SavedUsd { get; init; }
}
