using Microsoft.AspNetCore.Http.Features;
using Tollgate.Core.Caching;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Usage;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The stages after admission, for one admitted request: forward (<see cref="UpstreamForwarder"/>, the response metered
/// as it streams through <see cref="MeteringResponseStream"/>), account (<see cref="UsageAccountant"/>: usage and cost,
/// priced once), store a cacheable answer, then settle and record (<see cref="RequestRecorder"/>) and publish the
/// metrics. Forwarding is the provider's time; the rest is the meter's overhead, and is measured as such.
/// </summary>
internal sealed class MeteredExchange(
    UpstreamForwarder upstreamForwarder,
    RequestAdmitter admitter,
    UsageAccountant accountant,
    ResponseCache cache,
    RequestRecorder recorder,
    MeterMetrics metrics,
    TimeProvider time,
    ILogger<MeteredExchange> logger)
{
    /// <summary>Sends the admitted request, accounts for and settles what it used, and records it.</summary>
    /// <param name="context">The exchange with the client.</param>
    /// <param name="progress">How far the request got; it is settled here.</param>
    /// <param name="dialect">The request's API.</param>
    /// <param name="upstream">The provider's upstream (a routing plan may send elsewhere).</param>
    /// <param name="labels">The request's labels, with the model it asked for.</param>
    /// <param name="admitted">The admit stage's answer.</param>
    public async Task RunAsync(HttpContext context, RequestProgress progress, ApiDialect dialect, Upstream upstream, UsageLabels labels,
        Admitted<RouteCandidate> admitted)
    {
        var metered = admitted.Request;
        var provider = metered.Provider;
        var route = admitted.Route;
        var plan = RoutePlan.For(admitted, upstream, context.Request.Path.Value + context.Request.QueryString.Value);
        if (admitted.FallbackModel is { } cheaper)
        {
            Log.BudgetFallback(logger, admitted.Verdict!.BlockingBudget!.Name, route!.Name, cheaper);
            metrics.Fallbacks.WithLabels(route.Name, FallbackKinds.BudgetModel).Inc();
        }

        using var capture = admitted.CacheKey is null ? null : new CacheCapture(cache.Options.MaxEntryBytes);
        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        var metering = new MeteringResponseStream(originalBody.Stream, context.Response, time) { Dialect = dialect, StripInjectedUsage = admitted.StripInjectedUsage, Capture = capture };
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(metering, originalBody));

        var forwarding = time.GetTimestamp();
        var error = await upstreamForwarder.SendMeteredAsync(context, upstream, plan, admitted.Body);
        var forwarded = time.GetTimestamp();

        UsageObservation? observation = null;
        try
        {
            observation = await metering.CompleteAsync(context.RequestAborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client is gone; what was observed still counts.
        }
        finally
        {
            context.Features.Set(originalBody);
        }

        var billable = admitted.Billable;
        var routed = plan is null ? null : UpstreamForwarder.RouteResultOf(context) ?? plan.Unsent;
        var outcome = routed?.Fallback is not null ? RequestOutcomes.Fallback : billable ? RequestOutcomes.Forwarded : RequestOutcomes.Unbilled;
        if (routed?.Fallback == FallbackKinds.Upstream)
        {
            metrics.Fallbacks.WithLabels(routed.Rule, FallbackKinds.Upstream).Inc();
        }

        // Whether the provider's answer reached the client; usage is read before an error of the meter's own is written.
        var answered = error == ForwarderError.None || context.Response.HasStarted;
        var cut = error != ForwarderError.None || context.RequestAborted.IsCancellationRequested;
        var (servedModel, usage, estimated, cost, priceKnown) =
            accountant.Account(metered, observation, billable, answered, cut, context.Response.StatusCode, admitted.InputEstimate, admitted.OutputEstimate);
        if (!answered || context.Response.StatusCode >= 400)
        {
            outcome = RequestOutcomes.UpstreamError;
        }

        if (error != ForwarderError.None)
        {
            Log.ForwardFailed(logger, provider, error, context.GetForwarderErrorFeature()?.Exception);
            if (!answered && !context.RequestAborted.IsCancellationRequested)
            {
                await ErrorResponses.WriteUpstreamUnavailableAsync(context, dialect, upstream, error);
            }
        }

        if (admitted.RateLimits.Count > 0 && usage.Total > 0 && await admitter.RecordRateLimitTokensAsync(admitted.RateLimits, usage.Total) is { } unavailable)
        {
            Log.RateLimiterUnavailable(logger, unavailable);
        }

        var ttft = metering.IsEventStream && metering.FirstByteTimestamp != 0 ? metered.ElapsedAt(time, metering.FirstByteTimestamp) : (TimeSpan?)null;
        string? cacheResult = null;
        if (admitted.CacheKey is { } key && capture is not null)
        {
            var stored = ResponseCache.IsCacheable(context.Response.StatusCode, completed: !estimated && observation is { ReportedByProvider: true }) && !capture.Overflowed
                && cache.TryAdd(key, new CachedResponse(200, context.Response.ContentType ?? "application/json", capture.ToMemory(), servedModel, usage, cost,
                    metering.IsEventStream, time.GetUtcNow()), route!.CacheTtl!.Value);
            cacheResult = stored ? "stored" : "miss";
        }

        // Measured once: the event and this meter's histogram must hold the same number, or the exporter's sums drift from the meter's.
        var latency = metered.Elapsed(time);
        await recorder.SettleAsync(progress, admitted.Admission, new RequestOutcome(outcome, context.Response.StatusCode, latency)
        {
            Model = servedModel,
            Streaming = metering.IsEventStream,
            Usage = usage,
            Estimated = estimated,
            CostUsd = cost,
            TimeToFirstToken = ttft,
            Route = routed?.Decision(provider, servedModel),
            Cache = cacheResult,
        });

        var finalLabels = labels with { Model = servedModel };
        if (!priceKnown && billable && usage.Total > 0)
        {
            Log.UnpricedModel(logger, provider, servedModel);
            metrics.RecordUnpriced(provider, servedModel);
        }

        if (billable)
        {
            metrics.RecordUsage(finalLabels, usage, cost);
        }

        // After the tokens, so a scrape that sees the flag also sees what was estimated.
        if (estimated)
        {
            metrics.EstimatedUsage.WithLabels(provider).Inc();
        }

        recorder.Count(progress, finalLabels, outcome);
        if (MetricContract.ObservesLatency(outcome, routed?.Fallback))
        {
            metrics.RecordLatency(finalLabels, metering.IsEventStream, latency, ttft);
        }

        metrics.Overhead.Observe((metered.ElapsedAt(time, forwarding) + time.GetElapsedTime(forwarded)).TotalSeconds);
        await metering.DisposeAsync();
    }
}
