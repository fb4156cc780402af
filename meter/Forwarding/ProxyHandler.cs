using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.Endpoints;
using Tollgate.Core.Estimation;
using Tollgate.Core.Events;
using Tollgate.Core.Matching;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Routing;
using Tollgate.Core.Serialization;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Policy;
using Tollgate.Meter.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The HTTP side of the request pipeline, in order: classify (<see cref="RequestClassifier"/>: path, dialect, tags,
/// body); admit (the routing rule's input limit, cache and rate limit, then <see cref="BudgetAdmitter"/>); forward
/// (<see cref="UpstreamForwarder"/>, with the response metered as it streams); account (<see cref="UsageAccountant"/>);
/// settle and record (<see cref="Settlement"/>). It turns each stage's result into what the client gets and into
/// metrics. Everything but forwarding is the meter's overhead; forwarding is the provider's time.
/// </summary>
internal sealed class ProxyHandler(
    UpstreamForwarder upstreamForwarder,
    RequestClassifier classifier,
    UpstreamRegistry upstreams,
    PolicyProvider policy,
    PricingCatalog pricing,
    UsageAccountant accountant,
    InputTokenEstimator estimator,
    Settlement settlement,
    BudgetAdmitter budgets,
    IRateLimiter limiter,
    RouteEndpoints routeEndpoints,
    ResponseCache cache,
    MeterMetrics metrics,
    MeterOptions options,
    KeyStore keys,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    public async Task HandleAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        var requestId = Guid.CreateVersion7().ToString("N");
        context.Response.Headers[ErrorResponses.RequestIdHeader] = requestId;
        try
        {
            await RouteAsync(context, requestId, started);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client left; nothing is owed to it.
        }
        catch (Core.Ledger.LedgerAmountException ex)
        {
            Log.LedgerAmountRefused(logger, requestId, ex.Budget, ex.What, ex.Amount);
            if (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                context.Response.Clear();
                context.Response.Headers[ErrorResponses.RequestIdHeader] = requestId;
                await LedgerAmountErrors.WriteAsync(context, ex, ProviderHint(context.Request));
            }
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            await WriteFailureAsync(context, requestId, ex.StatusCode, "invalid_request", UnreadableRequest(ex));
        }
        catch (Exception ex)
        {
            // Never an empty 500, never exception text: the log has the detail under the request id.
            Log.RequestFailed(logger, requestId, ex);
            if (context.Response.HasStarted)
            {
                context.Abort();
                return;
            }

            await WriteFailureAsync(context, requestId, StatusCodes.Status500InternalServerError, "internal_error",
                $"The meter failed to handle this request; its log has the details under request id {requestId}.");
        }
    }

    private static string UnreadableRequest(BadHttpRequestException ex) =>
        $"The request could not be read ({(ex.StatusCode == StatusCodes.Status408RequestTimeout ? "the body arrived too slowly" : "malformed HTTP framing")}).";

    private static Task WriteFailureAsync(HttpContext context, string requestId, int status, string type, string message)
    {
        context.Response.Clear();
        context.Response.Headers[ErrorResponses.RequestIdHeader] = requestId;
        return ErrorResponses.WriteAsync(context, status, ProviderHint(context.Request), type, message);
    }

    private async Task RouteAsync(HttpContext context, string requestId, long started)
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

            await RefuseAsync(context, requestId, started, refused, null);
            return;
        }

        var (path, endpoint) = classified.Value!;
        if (!keys.Available)
        {
            // A job must not reach a provider with its own key, or none, while the meter waits for the broker's.
            await RefuseAsync(context, requestId, started, new Refusal(StatusCodes.Status503ServiceUnavailable, endpoint.Provider, "keys_unavailable",
                "The meter has no provider keys yet: the key broker has not answered. Retry shortly; the meter's /startupz turns OK once it has."), null);
            return;
        }

        // From here on the provider is sent the canonical path, the one that was classified, never the client's spelling.
        request.Path = new PathString(path);
        var provider = endpoint.Provider;
        var tagged = classifier.ReadTags(provider, request.Headers[RequestTags.HeaderName], request.Headers[RequestTags.AliasHeaderName]);
        if (tagged.Refusal is not null)
        {
            await RefuseAsync(context, requestId, started, tagged.Refusal, null);
            return;
        }

        var tags = tagged.Value!;
        var upstream = upstreams.Get(provider);
        if (upstream is null)
        {
            await RefuseAsync(context, requestId, started, new Refusal(StatusCodes.Status502BadGateway, provider, "upstream_unavailable",
                $"No upstream is configured for {provider}; start the meter with --upstream {provider}=<url>."), tags);
            return;
        }

        if (endpoint.Dialect == ApiDialect.Passthrough)
        {
            await ForwardUnbilledAsync(context, endpoint, upstream, tags, path, requestId, started);
            return;
        }

        var dialect = endpoint.Dialect;
        RequestBody body;
        try
        {
            body = await RequestBody.ReadAsync(request, options.MaxRequestBodyBytes, context.RequestAborted);
        }
        catch (BadHttpRequestException ex)
        {
            // Answered here rather than in HandleAsync: here the tags are known, and the refusal is counted like the others.
            var counted = CountRejected(tags, provider);
            await WriteFailureAsync(context, requestId, ex.StatusCode, "invalid_request", UnreadableRequest(ex));
            await SettleRejectedAsync(context, requestId, started, counted, provider);
            return;
        }

        try
        {
            var shape = body.TooLarge
                ? new Refusal(StatusCodes.Status413PayloadTooLarge, Providers.Of(dialect), "request_too_large",
                    $"The request body exceeds the meter's limit of {options.MaxRequestBodyBytes} bytes (--max-request-bytes).")
                : RequestClassifier.ReadShape(body.Span, dialect);
            if (shape.Refusal is not null)
            {
                await RefuseAsync(context, requestId, started, shape.Refusal, tags);
                return;
            }

            if (await AdmitAsync(context, dialect, upstream, tags, body, shape.Value!, requestId, started) is { } admitted)
            {
                await ForwardAsync(context, admitted);
            }
        }
        finally
        {
            body.Return();
        }
    }

    /// <summary>Answers a request refused before admission, and counts it.</summary>
    private async Task RefuseAsync(HttpContext context, string requestId, long started, Refusal refusal, IReadOnlyDictionary<string, string>? tags)
    {
        // Counted before the answer goes out: a client that scrapes /metrics once it has its 400 must see it counted.
        var counted = CountRejected(tags, refusal.Provider);
        await ErrorResponses.WriteAsync(context, refusal.Status, refusal.Provider, refusal.Type, refusal.Message, refusal.Details);
        await SettleRejectedAsync(context, requestId, started, counted, refusal.Provider);
    }

    /// <summary>
    /// The admit stage for a metered request: the routing rule's input limit, the response cache, the rule's rate limit,
    /// then the budgets with their fallback. Answers the client itself and returns null when the request goes no further.
    /// </summary>
    private async Task<Admitted?> AdmitAsync(HttpContext context, ApiDialect dialect, Upstream upstream, IReadOnlyDictionary<string, string> tags,
        RequestBody body, RequestShape shape, string requestId, long started)
    {
        var provider = upstream.Provider;
        var model = shape.Model ?? string.Empty;
        var labels = new UsageLabels(options.Namespace, Tag(tags, "team"), Tag(tags, "repo"), Tag(tags, "pipeline"), Tag(tags, "agent_step"), provider, model);
        var metered = new MeteredRequest(requestId, started, options.Namespace, tags, provider, model, shape.Stream);
        var billable = dialect != ApiDialect.AnthropicCountTokens;

        var strip = dialect is ApiDialect.OpenAIChatCompletions or ApiDialect.OpenAICompletions && shape.Stream && !shape.IncludeUsageRequested;
        var injected = strip ? InjectIncludeUsage(body.Span) : null;

        long? inputEstimate = null;
        long InputEstimate() => inputEstimate ??= billable ? estimator.Estimate(body.Span, provider) : 0;
        var outputEstimate = dialect is ApiDialect.OpenAIEmbeddings or ApiDialect.AnthropicCountTokens ? 0 : shape.MaxOutputTokens ?? options.DefaultMaxOutputTokens;

        var request = new RequestContext(options.Namespace, options.NamespaceLabels, tags, provider, model);

        // One snapshot for the whole request: a reload in between must not route by one policy and budget by another.
        var snapshot = policy.Current;
        var route = snapshot.RouteFor(request);
        var sendBody = injected ?? body.Memory;

        if (route?.MaxInputTokens is { } maxInput && billable && estimator.Measure(body.Span, provider) is var measured && measured > maxInput)
        {
            Log.InputTooLarge(logger, route.Name, measured, maxInput);
            metrics.RecordRequest(labels, RequestOutcomes.Rejected);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, dialect, "request_too_large",
                $"The request has about {measured} input tokens; routing rule \"{route.Name}\" allows at most {maxInput} (limits.maxInputTokens). Trim the context (summarise history, send fewer files) and retry.",
                json =>
                {
                    json.WriteString("rule_id", route.Name);
                    json.WriteNumber("max_input_tokens", maxInput);
                    json.WriteNumber("measured_input_tokens", measured);
                });
            await SettleAsync(metered, null, Ended(context, metered, RequestOutcomes.Rejected));
            return null;
        }

        ResponseCacheKey? cacheKey = null;
        if (route?.CacheTtl is not null && billable)
        {
            cacheKey = ResponseCacheKey.Compute(body.Span, provider, CacheVariant(context.Request, strip), Tag(tags, "team"));
            if (cache.TryGet(cacheKey.Value, out var cached))
            {
                metrics.CacheLookups.WithLabels("hit").Inc();
                await ServeCachedAsync(context, cached, route, metered, labels);
                return null;
            }

            metrics.CacheLookups.WithLabels("miss").Inc();
            context.Response.Headers["x-tollgate-cache"] = "miss";
        }

        var rateLimits = route?.RateLimit is { } rateLimit ? new[] { rateLimit } : [];
        if (rateLimits.Length > 0 && await AcquireRateLimitAsync(rateLimits, context.RequestAborted) is { IsAllowed: false } limited)
        {
            var rule = rateLimits[limited.BlockingIndex];
            Log.RequestRateLimited(logger, model, rule.Key, limited.Kind == RateLimitKind.Requests ? "requests" : "tokens");
            metrics.RecordRequest(labels, RequestOutcomes.Blocked);
            await ErrorResponses.WriteRateLimitedAsync(context, dialect, rule, limited);
            await SettleAsync(metered, null, Ended(context, metered, RequestOutcomes.Blocked));
            return null;
        }

        var candidates = route is null ? [] : routeEndpoints.Resolve(route, provider);
        var pathAndQuery = context.Request.Path.Value + context.Request.QueryString.Value;
        var plan = candidates.Count > 0 ? new RoutePlan(route!, candidates, pathAndQuery, sendBody, model, null) : null;

        // Budgets see the model that will be sent: a rule that routes Sonnet to Haiku is charged to Haiku's budgets.
        var budgetRequest = plan is null ? request : request with { Model = plan.PrimaryModel };
        var verdict = billable
            ? await budgets.AdmitAsync(snapshot, budgetRequest, request, route, FallbackResponses.Supports(dialect), requestId,
                sent => Estimate(pricing.Resolve(provider, sent).Price, InputEstimate(), outputEstimate), context.RequestAborted)
            : null;
        var admission = verdict?.Admission;

        if (verdict?.Fallback == FallbackKinds.BudgetResponse)
        {
            Log.BudgetFallback(logger, verdict.BlockingBudget!.Name, route!.Name, "a fixed response");
            metrics.Fallbacks.WithLabels(route.Name, FallbackKinds.BudgetResponse).Inc();
            metrics.RecordRequest(labels, RequestOutcomes.Fallback);
            var fixedPlan = new RoutePlan(route, [], pathAndQuery, sendBody, model, FallbackKinds.BudgetResponse);
            context.Response.Headers["x-tollgate-route"] = fixedPlan.Unsent.Header();
            await FallbackResponses.WriteAsync(context, dialect, shape.Stream, model, route.BudgetFallback!.Response!, requestId, verdict.Admission.At);
            await SettleAsync(metered, admission, Ended(context, metered, RequestOutcomes.Fallback) with { Route = fixedPlan.Unsent.Decision(provider, model) });
            return null;
        }

        if (verdict?.Fallback == FallbackKinds.BudgetModel)
        {
            Log.BudgetFallback(logger, verdict.BlockingBudget!.Name, route!.Name, verdict.Model);
            metrics.Fallbacks.WithLabels(route.Name, FallbackKinds.BudgetModel).Inc();
            var target = new CompiledTarget(-1, provider, verdict.Model, null, null);
            plan = new RoutePlan(route, [new RouteCandidate(target, upstream, verdict.Model)], pathAndQuery, sendBody, model, FallbackKinds.BudgetModel);
        }

        if (admission?.Kind == AdmissionKind.Blocked)
        {
            Log.RequestBlocked(logger, model, admission.BlockingBudget!.Name, admission.BlockingCharge!.Scope);
            metrics.RecordRequest(labels, RequestOutcomes.Blocked);
            await ErrorResponses.WriteBudgetExceededAsync(context, dialect, admission);
            await SettleAsync(metered, admission, Ended(context, metered, RequestOutcomes.Blocked));
            return null;
        }

        if (admission?.Kind == AdmissionKind.LedgerUnavailable)
        {
            Log.LedgerUnavailable(logger, admission.BlockingBudget!.Name, admission.Reason ?? string.Empty);
            metrics.RecordRequest(labels, RequestOutcomes.Rejected);
            context.Response.Headers.RetryAfter = "5";
            await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, dialect, "ledger_unavailable",
                $"Budget \"{admission.BlockingBudget.Name}\" cannot be checked because the spend ledger is unavailable ({admission.Reason}); it fails closed. Retry shortly.");
            await SettleAsync(metered, admission, Ended(context, metered, RequestOutcomes.Rejected));
            return null;
        }

        return new Admitted(metered, dialect, upstream, labels, billable, route, plan, admission, cacheKey, rateLimits, strip,
            injected ?? body.Buffer!, injected?.Length ?? body.Length, InputEstimate, outputEstimate);
    }

    /// <summary>
    /// Forward, account, settle and record: sends the admitted request while its response is metered as it streams,
    /// prices what it used once, settles it and publishes its metrics.
    /// </summary>
    private async Task ForwardAsync(HttpContext context, Admitted admitted)
    {
        var (metered, dialect, upstream, labels, billable, route, plan, admission, cacheKey, rateLimits, strip, sendBody, sendLength, inputEstimate, outputEstimate) = admitted;
        var provider = metered.Provider;
        var started = metered.Started;
        using var capture = cacheKey is null ? null : new CacheCapture(cache.Options.MaxEntryBytes);
        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        var metering = new MeteringResponseStream(originalBody.Stream, context.Response, time) { Dialect = dialect, StripInjectedUsage = strip, Capture = capture };
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(metering, originalBody));

        var forwarding = time.GetTimestamp();
        var error = await upstreamForwarder.SendMeteredAsync(context, upstream, plan, sendBody, sendLength);
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

        var routed = plan is null ? null : UpstreamForwarder.RouteResultOf(context) ?? plan.Unsent;
        var outcome = routed?.Fallback is not null ? RequestOutcomes.Fallback : billable ? RequestOutcomes.Forwarded : RequestOutcomes.Unbilled;
        if (routed?.Fallback == FallbackKinds.Upstream)
        {
            metrics.Fallbacks.WithLabels(routed.Rule, FallbackKinds.Upstream).Inc();
        }

        // Whether the provider's answer reached the client; usage is read before an error of the meter's own is written.
        var answered = error == ForwarderError.None || context.Response.HasStarted;
        var cut = error != ForwarderError.None || context.RequestAborted.IsCancellationRequested;
        var account = accountant.Account(metered, observation, billable, answered, cut, context.Response.StatusCode, inputEstimate, outputEstimate);
        var (servedModel, usage, estimated, cost, priceKnown) = account;
        if (answered)
        {
            if (context.Response.StatusCode >= 400)
            {
                outcome = RequestOutcomes.UpstreamError;
            }

            if (error != ForwarderError.None)
            {
                LogForwarderError(context, provider, error);
            }
        }
        else
        {
            outcome = RequestOutcomes.UpstreamError;
            LogForwarderError(context, provider, error);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await WriteUpstreamErrorAsync(context, dialect, upstream, error);
            }
        }

        if (rateLimits.Length > 0 && usage.Total > 0)
        {
            await RecordRateLimitTokensAsync(rateLimits, usage.Total);
        }

        var ttft = metering.IsEventStream && metering.FirstByteTimestamp != 0 ? time.GetElapsedTime(started, metering.FirstByteTimestamp) : (TimeSpan?)null;
        string? cacheResult = null;
        if (cacheKey is { } key && capture is not null)
        {
            var stored = ResponseCache.IsCacheable(context.Response.StatusCode, completed: !estimated && observation is { ReportedByProvider: true }) && !capture.Overflowed
                && cache.TryAdd(key, new CachedResponse(200, context.Response.ContentType ?? "application/json", capture.ToMemory(), servedModel, usage, cost,
                    metering.IsEventStream, time.GetUtcNow()), route!.CacheTtl!.Value);
            cacheResult = stored ? "stored" : "miss";
        }

        // Measured once: the event and this meter's histogram must hold the same number, or the exporter's sums drift from the meter's.
        var latency = time.GetElapsedTime(started);
        await SettleAsync(metered, admission, new RequestOutcome(outcome, context.Response.StatusCode, latency)
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

        metrics.RecordRequest(finalLabels, outcome);
        if (MetricContract.ObservesLatency(outcome, routed?.Fallback))
        {
            metrics.RecordLatency(finalLabels, metering.IsEventStream, latency, ttft);
        }

        var overhead = time.GetElapsedTime(started, forwarding) + time.GetElapsedTime(forwarded);
        metrics.Overhead.Observe(overhead.TotalSeconds);
        await metering.DisposeAsync();
    }

    /// <summary>The admit stage's answer for a request that goes upstream: everything forward, account and settle need.</summary>
    private sealed record Admitted(
        MeteredRequest Request, ApiDialect Dialect, Upstream Upstream, UsageLabels Labels, bool Billable, CompiledRoute? Route, RoutePlan? Plan,
        BudgetAdmission? Admission, ResponseCacheKey? CacheKey, RateLimitCharge[] RateLimits, bool StripUsage, byte[] Body, int BodyLength,
        Func<long> InputEstimate, long OutputEstimate);

    /// <summary>
    /// What besides the body decides the bytes a client gets: the path, the API version and beta headers, and whether
    /// the meter hid a usage chunk it asked for (the cache key ignores <c>stream_options</c>, so this tells them apart).
    /// </summary>
    private static string CacheVariant(HttpRequest request, bool usageHidden) =>
        $"{request.Path.Value}|{request.Headers["anthropic-version"]}|{request.Headers["anthropic-beta"]}|{request.Headers["openai-beta"]}|{(usageHidden ? "usage-hidden" : "usage-as-asked")}";

    /// <summary>Answers from the cache: the exact bytes the first client received, at no cost; the saving is counted.</summary>
    private async Task ServeCachedAsync(HttpContext context, CachedResponse cached, CompiledRoute route, MeteredRequest request, UsageLabels labels)
    {
        var response = context.Response;
        response.StatusCode = cached.Status;
        response.ContentType = cached.ContentType;
        response.ContentLength = cached.Body.Length;
        response.Headers["x-tollgate-cache"] = "hit";
        await response.Body.WriteAsync(cached.Body, context.RequestAborted);

        var servedLabels = labels with { Model = cached.Model };
        metrics.RecordRequest(servedLabels, RequestOutcomes.Cached);
        metrics.RecordCacheSaved(servedLabels, cached.CostUsd);
        await SettleAsync(request, null, new RequestOutcome(RequestOutcomes.Cached, cached.Status, time.GetElapsedTime(request.Started))
        {
            Model = cached.Model,
            Streaming = cached.EventStream,
            Route = new RouteDecision(route.Name, -1, request.Provider, cached.Model, 0, null),
            Cache = "hit",
            SavedUsd = cached.CostUsd,
        });
    }

    private async ValueTask<RateLimitResult> AcquireRateLimitAsync(IReadOnlyList<RateLimitCharge> rules, CancellationToken cancellationToken)
    {
        try
        {
            return await limiter.AcquireAsync(rules, time.GetUtcNow(), cancellationToken);
        }
        catch (Core.Ledger.LedgerUnavailableException ex)
        {
            // Limits pace traffic, budgets protect money: without the shared counters, pace nothing rather than stop CI.
            Log.RateLimiterUnavailable(logger, ex.Message);
            return RateLimitResult.Allowed;
        }
    }

    private async ValueTask RecordRateLimitTokensAsync(IReadOnlyList<RateLimitCharge> rules, long tokens)
    {
        try
        {
            await limiter.RecordTokensAsync(rules, tokens, time.GetUtcNow(), CancellationToken.None);
        }
        catch (Core.Ledger.LedgerUnavailableException ex)
        {
            Log.RateLimiterUnavailable(logger, ex.Message);
        }
    }

    /// <summary>Settles the request's charges and publishes its usage event, or spools both when the ledger is down.</summary>
    private async Task SettleAsync(MeteredRequest request, BudgetAdmission? admission, RequestOutcome outcome)
    {
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
    private RequestOutcome Ended(HttpContext context, MeteredRequest request, string outcome) =>
        new(outcome, context.Response.StatusCode, time.GetElapsedTime(request.Started));

    /// <summary>
    /// Forwards a call that costs nothing the meter can price: a free endpoint with the meter's key, or one an operator
    /// allowed unmetered with the client's own key. Counted, never charged; the body is streamed, not read.
    /// </summary>
    private async Task ForwardUnbilledAsync(HttpContext context, EndpointDecision endpoint, Upstream upstream, IReadOnlyDictionary<string, string> tags, string path,
        string requestId, long started)
    {
        var free = endpoint.Kind == EndpointKind.Free;
        if (!free)
        {
            // The meter's key is for the calls it meters: an unmetered call must spend the client's own credentials.
            upstream = upstream with { ClientKey = true };
            Log.UnmeteredForwarded(logger, context.Request.Method, path, Tag(tags, "team"), Tag(tags, "repo"));
        }

        var error = await upstreamForwarder.SendUnbilledAsync(context, upstream);
        var outcome = free ? RequestOutcomes.Unbilled : RequestOutcomes.Unmetered;
        if (error != ForwarderError.None)
        {
            LogForwarderError(context, upstream.Provider, error);
            outcome = RequestOutcomes.UpstreamError;
            if (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                await WriteUpstreamErrorAsync(context, ApiDialect.Passthrough, upstream, error);
            }
        }
        else if (context.Response.StatusCode >= 400)
        {
            outcome = RequestOutcomes.UpstreamError;
        }

        var labels = new UsageLabels(options.Namespace, Tag(tags, "team"), Tag(tags, "repo"), Tag(tags, "pipeline"), Tag(tags, "agent_step"), upstream.Provider, string.Empty);
        var latency = time.GetElapsedTime(started);
        metrics.RecordRequest(labels, outcome);
        if (MetricContract.ObservesLatency(outcome, null))
        {
            metrics.RecordLatency(labels, streaming: false, latency, firstToken: null);
        }

        // On the usage stream too, so the exporter's request counts match the meter's.
        var request = new MeteredRequest(requestId, started, options.Namespace, tags, upstream.Provider, string.Empty, Streaming: false);
        await SettleAsync(request, null, new RequestOutcome(outcome, context.Response.StatusCode, latency));
    }

    /// <summary>
    /// The reservation: the requested output (or the default) is capped at the maximum of the model that is sent, so a
    /// <c>max_tokens</c> of Int64.MaxValue reserves what the model can produce, never a wrapped or absurd amount.
    /// </summary>
    private static BudgetEstimate Estimate(ModelPrice price, long input, long output) => BudgetEstimate.Reserve(price, input, output);

    private static byte[] InjectIncludeUsage(ReadOnlySpan<byte> body)
    {
        // Once per streamed chat request: without include_usage OpenAI reports no usage for a stream at all.
        var node = JsonNode.Parse(body)!.AsObject();
        if (node["stream_options"] is JsonObject streamOptions)
        {
            streamOptions["include_usage"] = true;
        }
        else
        {
            node["stream_options"] = new JsonObject { ["include_usage"] = true };
        }

        return JsonNodeBytes.Of(node);
    }

    /// <summary>The provider whose error shape suits a request refused before its endpoint is known.</summary>
    private static string ProviderHint(HttpRequest request) => RequestClassifier.ProviderHint(request.Headers.ContainsKey("anthropic-version"));

    private static string Tag(IReadOnlyDictionary<string, string> tags, string key) => tags.TryGetValue(key, out var value) ? value : string.Empty;

    /// <summary>
    /// Counts a request refused before admission; <see cref="SettleRejectedAsync"/> then publishes its usage event, so the
    /// exporter counts it as this meter does. Its tags and model may be hostile: the event carries only what this meter publishes for it, the checked
    /// team and repo (none when the tags failed their check) and no model, so the exporter folds and admits exactly
    /// the label values the meter did and no unchecked text reaches the stream.
    /// </summary>
    private Dictionary<string, string> CountRejected(IReadOnlyDictionary<string, string>? tags, string provider)
    {
        var published = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in (ReadOnlySpan<string>)["team", "repo"])
        {
            if (tags?.TryGetValue(key, out var value) == true)
            {
                published[key] = value;
            }
        }

        metrics.RecordRequest(new UsageLabels(options.Namespace, Tag(published, "team"), Tag(published, "repo"), string.Empty, string.Empty, provider, string.Empty),
            RequestOutcomes.Rejected);
        return published;
    }

    /// <summary>The usage event of a request counted by <see cref="CountRejected"/>, once its answer is written (it carries the status).</summary>
    private Task SettleRejectedAsync(HttpContext context, string requestId, long started, Dictionary<string, string> published, string provider)
    {
        var request = new MeteredRequest(requestId, started, options.Namespace, published, provider, string.Empty, Streaming: false);
        return SettleAsync(request, null, Ended(context, request, RequestOutcomes.Rejected));
    }

    private void LogForwarderError(HttpContext context, string provider, ForwarderError error)
    {
        var exception = context.GetForwarderErrorFeature()?.Exception;
        if (error is ForwarderError.RequestCanceled or ForwarderError.ResponseBodyCanceled or ForwarderError.RequestBodyCanceled)
        {
            if (logger.IsEnabled(LogLevel.Debug))
            {
                Log.ClientAborted(logger, provider, error.ToString());
            }
        }
        else
        {
            Log.UpstreamFailed(logger, provider, error.ToString(), exception);
        }
    }

    private static Task WriteUpstreamErrorAsync(HttpContext context, ApiDialect dialect, Upstream upstream, ForwarderError error)
    {
        // The exception stays in the log: its text can name internal hosts and addresses.
        var (status, reason) = error switch
        {
            ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, "it did not answer in time"),
            ForwarderError.Request => (StatusCodes.Status502BadGateway, "the connection failed"),
            ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination or ForwarderError.ResponseBodyCanceled => (StatusCodes.Status502BadGateway, "its response broke off"),
            ForwarderError.NoAvailableDestinations => (StatusCodes.Status502BadGateway, "every routed target is unavailable"),
            _ => (StatusCodes.Status502BadGateway, "the exchange failed"),
        };
        return ErrorResponses.WriteAsync(context, status, dialect == ApiDialect.Passthrough ? upstream.Provider : Providers.Of(dialect), "upstream_unavailable",
            $"The meter could not get a response from the {upstream.Provider} upstream: {reason}. Retry; if it persists, the meter's log has the cause under request id {context.Response.Headers[ErrorResponses.RequestIdHeader]}.");
    }
}
