using Tollgate.Core.Events;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// One request as the meter knows it: when it arrived and, as the stages learn it, who sent it, to which provider, for
/// which model. Immutable: each stage that learns more returns a new value, so no stage can change what an earlier one decided.
/// It ends, with its <see cref="RequestOutcome"/>, as the request's <see cref="UsageEvent"/>.
/// </summary>
/// <param name="RequestId">The meter's id for the request (the <c>x-tollgate-request-id</c> header).</param>
/// <param name="Arrival">The arrival timestamp (<see cref="TimeProvider.GetTimestamp"/>), taken once; every latency is measured from it.</param>
/// <param name="Namespace">The meter's Kubernetes namespace, empty in standalone mode.</param>
/// <param name="Tags">The request's checked tags; only what the meter may publish.</param>
/// <param name="Provider">anthropic or openai.</param>
/// <param name="Model">The model the client asked for; empty when it is not known (or not trusted).</param>
/// <param name="Streaming">Whether the client asked for a stream.</param>
public sealed record MeteredRequest(
    string RequestId,
    long Arrival,
    string Namespace,
    IReadOnlyDictionary<string, string> Tags,
    string Provider,
    string Model,
    bool Streaming)
{
    private static readonly IReadOnlyDictionary<string, string> NoTags = new Dictionary<string, string>();

    /// <summary>A request that has just arrived: nothing is known of it yet but its id and when it came.</summary>
    /// <param name="requestId">The meter's id for it.</param>
    /// <param name="time">The meter's clock, read once here.</param>
    /// <param name="ns">The meter's namespace.</param>
    public static MeteredRequest Arrived(string requestId, TimeProvider time, string ns) =>
        new(requestId, time.GetTimestamp(), ns, NoTags, string.Empty, string.Empty, Streaming: false);

    public string Tag(string key) => Tags.TryGetValue(key, out var value) ? value : string.Empty;

    /// <summary>The time since arrival, on the clock that took <see cref="Arrival"/>.</summary>
    public TimeSpan Elapsed(TimeProvider time) => time.GetElapsedTime(Arrival);

    /// <summary>The time from arrival to <paramref name="timestamp"/>, a later reading of the same clock.</summary>
    public TimeSpan ElapsedAt(TimeProvider time, long timestamp) => time.GetElapsedTime(Arrival, timestamp);

    /// <summary>The usage event of this request: what it became, when it arrived and what its budgets did.</summary>
    /// <param name="at">The time the event carries.</param>
    /// <param name="outcome">How the request ended.</param>
    /// <param name="budgets">What every matching budget decided and was charged.</param>
    public UsageEvent ToUsageEvent(DateTimeOffset at, RequestOutcome outcome, IReadOnlyList<BudgetCharge> budgets) =>
        new(RequestId, at, Namespace, Tags, Provider, outcome.Model ?? Model, outcome.Streaming ?? Streaming, outcome.Usage, outcome.Estimated,
            outcome.CostUsd, outcome.Latency.TotalSeconds, outcome.TimeToFirstToken?.TotalSeconds, outcome.Outcome, outcome.Status, budgets,
            outcome.Route, outcome.Cache, outcome.SavedUsd);
}
