using Microsoft.AspNetCore.Http.Features;
using Tollgate.Core.Endpoints;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The HTTP side of the request pipeline, in order: classify (<see cref="RequestClassifier"/>: path, dialect, tags,
/// body); admit (<see cref="RequestAdmitter"/>: routing rule, input limit, cache, rate limit, budgets and their
/// fallback); then, for an admitted request, forward, account, settle and record (<see cref="MeteredExchange"/>). It
/// turns each stage's result into what the client gets, log lines and metrics, and makes sure every request, however
/// it ends, is counted and published once (<see cref="RequestRecorder"/>).
/// </summary>
internal sealed class ProxyHandler(
    UpstreamForwarder upstreamForwarder,
    RequestClassifier classifier,
    UpstreamRegistry upstreams,
    RequestAdmitter admitter,
    MeteredExchange exchange,
    RequestRecorder recorder,
    RouteEndpoints routeEndpoints,
    MeterMetrics metrics,
    MeterOptions options,
    KeyStore keys,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    public async Task HandleAsync(HttpContext context)
    {
        var progress = new RequestProgress(MeteredRequest.Arrived(Guid.CreateVersion7().ToString("N"), time, options.Namespace));
        var requestId = progress.Request.RequestId;
        context.Response.Headers[ErrorResponses.RequestIdHeader] = requestId;

        // What the request ended as when no stage got to say so. A fault is counted before its answer goes out, as a
        // refusal is: a client that scrapes /metrics once it has its 500 must see it counted.
        var (outcome, status) = (RequestOutcomes.Error, StatusCodes.Status500InternalServerError);
        var hint = ProviderHint(context.Request);
        try
        {
            await RouteAsync(context, progress);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client left; nothing is owed to it, but the request still counts once.
            (outcome, status) = (RequestOutcomes.Aborted, RequestOutcomes.ClientClosedRequestStatus);
        }
        catch (LedgerAmountException ex)
        {
            Log.LedgerAmountRefused(logger, requestId, ex.Budget, ex.What, ex.Amount);
            if (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                recorder.CountUnfinished(progress, outcome, hint);
                context.Response.Clear();
                context.Response.Headers[ErrorResponses.RequestIdHeader] = requestId;
                await LedgerAmountErrors.WriteAsync(context, ex, hint);
            }
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            (outcome, status) = (RequestOutcomes.Rejected, ex.StatusCode);
            recorder.CountUnfinished(progress, outcome, hint);
            await ErrorResponses.WriteFailureAsync(context, hint, ex.StatusCode, "invalid_request", ErrorResponses.Unreadable(ex));
        }
        catch (Exception ex)
        {
            // Never an empty 500, never exception text: the log has the detail under the request id.
            Log.RequestFailed(logger, requestId, ex);
            if (context.Response.HasStarted)
            {
                status = context.Response.StatusCode;
                context.Abort();
            }
            else
            {
                recorder.CountUnfinished(progress, outcome, hint);
                await ErrorResponses.WriteFailureAsync(context, hint, StatusCodes.Status500InternalServerError, "internal_error",
                    $"The meter failed to handle this request; its log has the details under request id {requestId}.");
            }
        }
        finally
        {
            await recorder.EndUnsettledAsync(progress, outcome, status, context.Response.StatusCode, hint);
        }
    }

    private async Task RouteAsync(HttpContext context, RequestProgress progress)
    {
        var request = context.Request;
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "/";
        var classified = classifier.ClassifyPath(request.Method, rawTarget, request.Headers.ContainsKey("anthropic-version"));
        if (classified.Refusal is { } refused)
        {
            if (classified.Value is { } refusedPath)
            {
                Log.EndpointRefused(logger, request.Method, refusedPath.Path);
            }

            await RefuseAsync(context, progress, refused);
            return;
        }

        var (path, endpoint) = classified.Value!;
        var provider = endpoint.Provider;
        if (!keys.Available)
        {
            // A job must not reach a provider with its own key, or none, while the meter waits for the broker's.
            await RefuseAsync(context, progress, new Refusal(StatusCodes.Status503ServiceUnavailable, provider, "keys_unavailable",
                "The meter has no provider keys yet: the key broker has not answered. Retry shortly; the meter's /startupz turns OK once it has."));
            return;
        }

        // From here on the provider is sent the canonical path, the one that was classified, never the client's spelling.
        request.Path = new PathString(path);
        var tagged = classifier.ReadTags(provider, request.Headers[RequestTags.HeaderName], request.Headers[RequestTags.AliasHeaderName]);
        if (tagged.Refusal is not null)
        {
            await RefuseAsync(context, progress, tagged.Refusal);
            return;
        }

        progress.Request = progress.Request with { Tags = tagged.Value!, Provider = provider };
        if (upstreams.Get(provider) is not { } upstream)
        {
            await RefuseAsync(context, progress, new Refusal(StatusCodes.Status502BadGateway, provider, "upstream_unavailable",
                $"No upstream is configured for {provider}; start the meter with --upstream {provider}=<url>."));
            return;
        }

        if (endpoint.Dialect == ApiDialect.Passthrough)
        {
            await ForwardUnbilledAsync(context, progress, endpoint, upstream, path);
            return;
        }

        RequestBody body;
        try
        {
            body = await RequestBody.ReadAsync(request, options.MaxRequestBodyBytes, context.RequestAborted);
        }
        catch (BadHttpRequestException ex)
        {
            // Answered here rather than in HandleAsync: here the tags are known, and the refusal is counted like the others.
            recorder.CountRejected(progress, provider);
            await ErrorResponses.WriteFailureAsync(context, ProviderHint(request), ex.StatusCode, "invalid_request", ErrorResponses.Unreadable(ex));
            await recorder.SettleAsync(progress, null, recorder.Ended(progress, RequestOutcomes.Rejected, context.Response.StatusCode));
            return;
        }

        try
        {
            var dialect = endpoint.Dialect;
            var shape = body.TooLarge
                ? new Refusal(StatusCodes.Status413PayloadTooLarge, Providers.Of(dialect), "request_too_large",
                    $"The request body exceeds the meter's limit of {options.MaxRequestBodyBytes} bytes (--max-request-bytes).")
                : RequestClassifier.ReadShape(body.Span, dialect);
            if (shape.Refusal is not null)
            {
                await RefuseAsync(context, progress, shape.Refusal);
                return;
            }

            progress.Request = progress.Request with { Model = shape.Value!.Model ?? string.Empty, Streaming = shape.Value.Stream };
            var headers = request.Headers;
            var input = new AdmitInput(dialect, body.Memory, shape.Value,
                new ResponseVariant(path, headers["anthropic-version"].ToString(), headers["anthropic-beta"].ToString(), headers["openai-beta"].ToString()),
                FallbackResponses.Supports(dialect));
            var admitted = await admitter.AdmitAsync(progress.Request, input, route => routeEndpoints.Resolve(route, provider), context.RequestAborted);
            await AnswerAsync(context, progress, dialect, upstream, admitted);
        }
        finally
        {
            body.Return();
        }
    }

    /// <summary>Turns the admit stage's result into the response: forward it, or answer from the cache, the fallback or the refusal.</summary>
    private async Task AnswerAsync(HttpContext context, RequestProgress progress, ApiDialect dialect, Upstream upstream, AdmitResult result)
    {
        if (result.RateLimiterUnavailable is { } reason)
        {
            Log.RateLimiterUnavailable(logger, reason);
        }

        if (result.CacheLookup is { } lookup)
        {
            metrics.CacheLookups.WithLabels(lookup).Inc();
            if (lookup == "miss")
            {
                context.Response.Headers["x-tollgate-cache"] = "miss";
            }
        }

        var request = result.Request;
        var labels = UsageLabels.Of(request);
        switch (result)
        {
            case Admitted<RouteCandidate> admitted:
                await exchange.RunAsync(context, progress, dialect, upstream, labels, admitted);
                break;

            case CacheHit hit:
                await ServeCachedAsync(context, progress, hit, labels);
                break;

            case FixedResponseFallback fixedResponse:
                var (route, verdict) = (fixedResponse.Route, fixedResponse.Verdict);
                Log.BudgetFallback(logger, verdict.BlockingBudget!.Name, route.Name, "a fixed response");
                metrics.Fallbacks.WithLabels(route.Name, FallbackKinds.BudgetResponse).Inc();
                recorder.Count(progress, labels, RequestOutcomes.Fallback);
                var unsent = new RouteResult(route.Name, null, 0, FallbackKinds.BudgetResponse);
                context.Response.Headers["x-tollgate-route"] = unsent.Header();
                await FallbackResponses.WriteAsync(context, dialect, request.Streaming, request.Model, fixedResponse.Text, request.RequestId, verdict.Admission.At);
                await recorder.SettleAsync(progress, verdict.Admission, recorder.Ended(progress, RequestOutcomes.Fallback, context.Response.StatusCode) with { Route = unsent.Decision(request.Provider, request.Model) });
                break;

            case AdmitRefused refused:
                Log.Refused(logger, refused);
                recorder.Count(progress, labels, refused.Outcome);
                await ErrorResponses.WriteAsync(context, refused.Refusal);
                await recorder.SettleAsync(progress, refused.Admission, recorder.Ended(progress, refused.Outcome, context.Response.StatusCode));
                break;
        }
    }

    /// <summary>Answers from the cache: the exact bytes the first client received, at no cost; the saving is counted.</summary>
    private async Task ServeCachedAsync(HttpContext context, RequestProgress progress, CacheHit hit, UsageLabels labels)
    {
        var cached = hit.Cached;
        var response = context.Response;
        response.StatusCode = cached.Status;
        response.ContentType = cached.ContentType;
        response.ContentLength = cached.Body.Length;
        response.Headers["x-tollgate-cache"] = "hit";
        await response.Body.WriteAsync(cached.Body, context.RequestAborted);

        var servedLabels = labels with { Model = cached.Model };
        recorder.Count(progress, servedLabels, RequestOutcomes.Cached);
        metrics.RecordCacheSaved(servedLabels, cached.CostUsd);
        await recorder.SettleAsync(progress, null, new RequestOutcome(RequestOutcomes.Cached, cached.Status, hit.Request.Elapsed(time))
        {
            Model = cached.Model,
            Streaming = cached.EventStream,
            Route = new RouteDecision(hit.Route.Name, -1, hit.Request.Provider, cached.Model, 0, null),
            Cache = "hit",
            SavedUsd = cached.CostUsd,
        });
    }

    /// <summary>
    /// Forwards a call that costs nothing the meter can price: a free endpoint with the meter's key, or one an operator
    /// allowed unmetered with the client's own key. Counted, never charged; the body is streamed, not read.
    /// </summary>
    private async Task ForwardUnbilledAsync(HttpContext context, RequestProgress progress, EndpointDecision endpoint, Upstream upstream, string path)
    {
        var request = progress.Request;
        var free = endpoint.Kind == EndpointKind.Free;
        if (!free)
        {
            // The meter's key is for the calls it meters: an unmetered call must spend the client's own credentials.
            upstream = upstream with { ClientKey = true };
            Log.UnmeteredForwarded(logger, context.Request.Method, path, request.Tag(TagKeys.Team), request.Tag(TagKeys.Repo));
        }

        var error = await upstreamForwarder.SendUnbilledAsync(context, upstream);
        var outcome = free ? RequestOutcomes.Unbilled : RequestOutcomes.Unmetered;
        if (error != ForwarderError.None)
        {
            Log.ForwardFailed(logger, upstream.Provider, error, context.GetForwarderErrorFeature()?.Exception);
            outcome = RequestOutcomes.UpstreamError;
            if (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                await ErrorResponses.WriteUpstreamUnavailableAsync(context, ApiDialect.Passthrough, upstream, error);
            }
        }
        else if (context.Response.StatusCode >= 400)
        {
            outcome = RequestOutcomes.UpstreamError;
        }

        var labels = UsageLabels.Of(request);
        var latency = request.Elapsed(time);
        recorder.Count(progress, labels, outcome);
        if (MetricContract.ObservesLatency(outcome, null))
        {
            metrics.RecordLatency(labels, streaming: false, latency, firstToken: null);
        }

        // On the usage stream too, so the exporter's request counts match the meter's.
        await recorder.SettleAsync(progress, null, new RequestOutcome(outcome, context.Response.StatusCode, latency));
    }

    /// <summary>Answers a request refused before admission, and counts it.</summary>
    private async Task RefuseAsync(HttpContext context, RequestProgress progress, Refusal refusal)
    {
        // Counted before the answer goes out: a client that scrapes /metrics once it has its 400 must see it counted.
        recorder.CountRejected(progress, refusal.Provider);
        await ErrorResponses.WriteAsync(context, refusal);
        await recorder.SettleAsync(progress, null, recorder.Ended(progress, RequestOutcomes.Rejected, context.Response.StatusCode));
    }

    /// <summary>The provider whose error shape suits a request refused before its endpoint is known.</summary>
    private static string ProviderHint(HttpRequest request) => RequestClassifier.ProviderHint(request.Headers.ContainsKey("anthropic-version"));
}
