using Tollgate.Core.Budgets;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Tagging;
using Tollgate.Meter.Metering;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The end of every request: counts it in this meter's metrics and publishes its usage event through
/// <see cref="Settlement"/>, each exactly once and under the same outcome, so the exporter, which counts the events,
/// agrees with the meter series by series. <see cref="EndUnsettledAsync"/> is the last resort for a request no stage finished.
/// </summary>
internal sealed class RequestRecorder(Settlement settlement, MeterMetrics metrics, TimeProvider time, ILogger<RequestRecorder> logger)
{
    /// <summary>Counts the request in the metrics, once: the outcome its usage event will carry.</summary>
    public void Count(RequestProgress progress, in UsageLabels labels, string outcome)
    {
        metrics.RecordRequest(labels, outcome);
        progress.CountedOutcome = outcome;
    }

    /// <summary>
    /// Counts a request refused before admission. Its tags and model may be hostile: from here on it carries only what
    /// this meter publishes for it, the checked team and repo (none when the tags failed their check) and no model, so the
    /// exporter folds and admits exactly the label values the meter did and no unchecked text reaches the stream.
    /// </summary>
    public void CountRejected(RequestProgress progress, string provider)
    {
        var published = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in (ReadOnlySpan<string>)[TagKeys.Team, TagKeys.Repo])
        {
            if (progress.Request.Tags.TryGetValue(key, out var value))
            {
                published[key] = value;
            }
        }

        progress.Request = progress.Request with { Tags = published, Provider = provider, Model = string.Empty, Streaming = false };
        Count(progress, UsageLabels.Of(progress.Request), RequestOutcomes.Rejected);
    }

    /// <summary>Settles the request's charges and publishes its usage event, or spools both when the ledger is down.</summary>
    public async Task SettleAsync(RequestProgress progress, BudgetAdmission? admission, RequestOutcome outcome)
    {
        progress.Settled = true;
        var request = progress.Request;
        var settled = await settlement.SettleAsync(request, admission, outcome);
        if (settled.State == SettleState.Spooled)
        {
            Log.UsageSpooled(logger, request.RequestId, settlement.Spool.Count);
        }
        else if (settled.State == SettleState.Lost)
        {
            Log.UsageLost(logger, request.RequestId, settlement.Spool.Path ?? "memory", settled.Error!);
        }
    }

    /// <summary>An outcome without usage, measured now.</summary>
    public RequestOutcome Ended(RequestProgress progress, string outcome, int status) => new(outcome, status, progress.Request.Elapsed(time));

    /// <summary>
    /// Counts a request no stage finished (a fault, or the client leaving) as <paramref name="outcome"/>, unless it was
    /// counted already: then it keeps the outcome it was counted under. A rejected one publishes what
    /// <see cref="CountRejected"/> allows.
    /// </summary>
    /// <param name="progress">How far the request got.</param>
    /// <param name="outcome">What it ended as.</param>
    /// <param name="providerHint">The provider whose error shape the client got, for a request refused before its endpoint was known.</param>
    public void CountUnfinished(RequestProgress progress, string outcome, string providerHint)
    {
        if (progress.CountedOutcome is not null)
        {
            return;
        }

        if (outcome == RequestOutcomes.Rejected)
        {
            CountRejected(progress, progress.Request.Provider.Length > 0 ? progress.Request.Provider : providerHint);
        }
        else
        {
            Count(progress, UsageLabels.Of(progress.Request), outcome);
        }
    }

    /// <summary>
    /// The last resort for a request no stage finished: counts it (<see cref="CountUnfinished"/>) and publishes its usage
    /// event, once. A request counted already keeps its outcome and the status it was answered with.
    /// </summary>
    /// <param name="progress">How far the request got.</param>
    /// <param name="outcome">What it ended as, unless it was counted already.</param>
    /// <param name="status">The status for that outcome.</param>
    /// <param name="answeredStatus">The status the response holds, for a request counted already.</param>
    /// <param name="providerHint">See <see cref="CountUnfinished"/>.</param>
    public Task EndUnsettledAsync(RequestProgress progress, string outcome, int status, int answeredStatus, string providerHint)
    {
        if (progress.Settled)
        {
            return Task.CompletedTask;
        }

        if (progress.CountedOutcome is { } counted)
        {
            (outcome, status) = (counted, answeredStatus);
        }
        else
        {
            CountUnfinished(progress, outcome, providerHint);
        }

        return SettleAsync(progress, null, Ended(progress, outcome, status));
    }
}
