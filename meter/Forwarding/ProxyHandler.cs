using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.Endpoints;
using Tollgate.Core.Estimation;
using Tollgate.Core.Events;
using Tollgate.Core.Matching;
using Tollgate.Core.Metrics;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Routing;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Policy;
using Tollgate.Meter.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The request path of the meter, in order: (1) route to a dialect; (2) read and check the tags; (3) read the body
/// (bounded) for the model, stream flag and output cap; (4) estimate and reserve against every matching budget, or
/// answer 429; (5) forward with YARP while the response body is metered as it streams; (6) settle the actual cost and
/// publish metrics. Only steps 1–4 and 6 are the meter's overhead; step 5 is the provider's time.
/// </summary>
internal sealed class ProxyHandler(
    IHttpForwarder forwarder,
    EndpointPolicy endpoints,
    UpstreamRegistry upstreams,
    PolicyProvider policy,
    PricingCatalog pricing,
    InputTokenEstimator estimator,
    BudgetGuard guard,
    UsageRecorder recorder,
    IRateLimiter limiter,
    RouteEndpoints routeEndpoints,
    RetryBudget retryBudget,
    HttpMessageInvoker routingInvoker,
    ResponseCache cache,
    DailySpendHistory spendHistory,
    MeterMetrics metrics,
    MeterOptions options,
    UpstreamTransformer transformer,
    KeyStore keys,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    private static readonly ForwarderRequestConfig PassthroughConfig = new() { ActivityTimeout = TimeSpan.FromMinutes(10) };

    private readonly ForwarderRequestConfig _requestConfig = new()
    {
        ActivityTimeout = options.UpstreamActivityTimeout,

        // Buffering would hold server-sent events back until the buffer fills.
        AllowResponseBuffering = false,
    };

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
        var query = rawTarget.IndexOf('?');
        if (!CanonicalPath.TryCanonicalize(query < 0 ? rawTarget : rawTarget.AsSpan(0, query), out var path, out var pathError))
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, ProviderHint(request), "invalid_request", pathError!);
            await RecordRejectedAsync(context, requestId, started, null, ProviderHint(request));
            return;
        }

        var endpoint = endpoints.Classify(request.Method, path, request.Headers.ContainsKey("anthropic-version"));
        if (endpoint.Kind == EndpointKind.Refused)
        {
            Log.EndpointRefused(logger, request.Method, path);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status403Forbidden, endpoint.Provider, "endpoint_not_metered",
                $"The meter does not meter {request.Method} {path}, so it refuses it: spend it cannot price would escape every budget. "
                + $"If pipelines need this endpoint, start the meter with --allow-unmetered '{path}' (globs such as '/v1/files*' work); it is then forwarded unmetered and without the meter's provider key, so the client must send its own.",
                json =>
                {
                    json.WriteString("method", request.Method);
                    json.WriteString("path", path);
                });
            await RecordRejectedAsync(context, requestId, started, null, endpoint.Provider);
            return;
        }

        if (!keys.Available)
        {
            // A job must not reach a provider with its own key, or none, while the meter waits for the broker's.
            await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, endpoint.Provider, "keys_unavailable",
                "The meter has no provider keys yet: the key broker has not answered. Retry shortly; the meter's /startupz turns OK once it has.");
            await RecordRejectedAsync(context, requestId, started, null, endpoint.Provider);
            return;
        }

        // From here on the provider is sent the canonical path, the one that was classified, never the client's spelling.
        request.Path = new PathString(path);
        var provider = endpoint.Provider;
        var (headerName, header, headerError) = MetadataHeader(request);
        var tagResult = headerError is null
            ? RequestTags.Parse(header, headerName, options.IdentityTags, options.RequiredTags)
            : TagParseResult.Invalid(headerError, []);
        if (tagResult.Tags is null)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, provider,
                tagResult.MissingKeys.Count > 0 ? "missing_metadata" : "invalid_metadata", tagResult.Error!,
                json =>
                {
                    if (tagResult.MissingKeys.Count > 0)
                    {
                        json.WriteStartArray("missing");
                        foreach (var key in tagResult.MissingKeys)
                        {
                            json.WriteStringValue(key);
                        }

                        json.WriteEndArray();
                    }
                });
            await RecordRejectedAsync(context, requestId, started, null, provider);
            return;
        }

        var tags = tagResult.Tags;
        var upstream = upstreams.Get(provider);
        if (upstream is null)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status502BadGateway, provider, "upstream_unavailable",
                $"No upstream is configured for {provider}; start the meter with --upstream {provider}=<url>.");
            await RecordRejectedAsync(context, requestId, started, tags, provider);
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
            body = await ReadBodyAsync(request, options.MaxRequestBodyBytes, context.RequestAborted);
        }
        catch (BadHttpRequestException ex)
        {
            // Answered here rather than in HandleAsync: here the tags are known, and the refusal is counted like the others.
            await WriteFailureAsync(context, requestId, ex.StatusCode, "invalid_request", UnreadableRequest(ex));
            await RecordRejectedAsync(context, requestId, started, tags, provider);
            return;
        }

        try
        {
            if (body.TooLarge)
            {
                await ErrorResponses.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, dialect, "request_too_large",
                    $"The request body exceeds the meter's limit of {options.MaxRequestBodyBytes} bytes (--max-request-bytes).");
                await RecordRejectedAsync(context, requestId, started, tags, provider);
                return;
            }

            RequestShape shape;
            try
            {
                shape = RequestShape.Read(body.Span);
            }
            catch (RequestBodyException ex)
            {
                await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, dialect, "invalid_request", ex.Message);
                await RecordRejectedAsync(context, requestId, started, tags, provider);
                return;
            }

            if (ModelName.Validate(shape.Model) is { } modelError)
            {
                await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, dialect, "invalid_request", modelError);
                await RecordRejectedAsync(context, requestId, started, tags, provider);
                return;
            }

            await MeterAsync(context, dialect, upstream, tags, body, shape, requestId, started);
        }
        finally
        {
            body.Return();
        }
    }

    private async Task MeterAsync(HttpContext context, ApiDialect dialect, Upstream upstream, IReadOnlyDictionary<string, string> tags,
        RequestBody body, RequestShape shape, string requestId, long started)
    {
        var provider = upstream.Provider;
        var model = shape.Model ?? string.Empty;
        var labels = new UsageLabels(options.Namespace, Tag(tags, "team"), Tag(tags, "repo"), Tag(tags, "pipeline"), Tag(tags, "agent_step"), provider, model);
        var requested = pricing.Resolve(provider, model);
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
            await RecordAsync(NotAdmitted(requestId), tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, time.GetElapsedTime(started), null, RequestOutcomes.Rejected, context.Response.StatusCode);
            return;
        }

        ResponseCacheKey? cacheKey = null;
        if (route?.CacheTtl is not null && billable)
        {
            cacheKey = ResponseCacheKey.Compute(body.Span, provider, CacheVariant(context.Request, strip), Tag(tags, "team"));
            if (cache.TryGet(cacheKey.Value, out var cached))
            {
                metrics.CacheLookups.WithLabels("hit").Inc();
                await ServeCachedAsync(context, cached, route, requestId, tags, provider, labels, started);
                return;
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
            await RecordAsync(NotAdmitted(requestId), tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, time.GetElapsedTime(started), null, RequestOutcomes.Blocked, context.Response.StatusCode);
            return;
        }

        var candidates = route is null ? [] : routeEndpoints.Resolve(route, provider);
        var pathAndQuery = context.Request.Path.Value + context.Request.QueryString.Value;
        var plan = candidates.Count > 0 ? new RoutePlan(route!, candidates, pathAndQuery, sendBody, model, null) : null;
        var primaryPrice = plan is null ? requested : pricing.Resolve(provider, plan.PrimaryModel);

        // Budgets see the model that will be sent: a rule that routes Sonnet to Haiku is charged to Haiku's budgets.
        var budgetRequest = plan is null ? request : request with { Model = plan.PrimaryModel };
        var admission = billable
            ? await guard.AdmitAsync(snapshot, budgetRequest, requestId, () => Estimate(primaryPrice.Price, InputEstimate(), outputEstimate), context.RequestAborted)
            : new BudgetAdmission(AdmissionKind.Allowed, requestId, [], [], false, -1, default, time.GetUtcNow(), null);

        if (admission.Kind == AdmissionKind.Blocked && route?.BudgetFallback is { } budgetFallback)
        {
            if (budgetFallback.Response is { } text && FallbackResponses.Supports(dialect))
            {
                Log.BudgetFallback(logger, admission.BlockingBudget!.Name, route.Name, "a fixed response");
                metrics.Fallbacks.WithLabels(route.Name, FallbackKinds.BudgetResponse).Inc();
                metrics.RecordRequest(labels, RequestOutcomes.Fallback);
                var fixedPlan = new RoutePlan(route, [], pathAndQuery, sendBody, model, FallbackKinds.BudgetResponse);
                context.Response.Headers["x-tollgate-route"] = fixedPlan.Header();
                await FallbackResponses.WriteAsync(context, dialect, shape.Stream, model, text, requestId, admission.At);
                await RecordAsync(admission, tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, time.GetElapsedTime(started), null, RequestOutcomes.Fallback,
                    context.Response.StatusCode, fixedPlan.Decision(provider, model));
                return;
            }

            if (budgetFallback.Model is { } cheaper)
            {
                // The fallback model is a request of its own for the budgets: those that cover only the dear model let it through.
                var fallbackRequest = request with { Model = cheaper };
                var fallbackPrice = pricing.Resolve(provider, cheaper);
                var second = await guard.AdmitAsync(snapshot, fallbackRequest, requestId,
                    () => Estimate(fallbackPrice.Price, InputEstimate(), outputEstimate), context.RequestAborted);
                if (second.Kind == AdmissionKind.Allowed)
                {
                    Log.BudgetFallback(logger, admission.BlockingBudget!.Name, route.Name, cheaper);
                    metrics.Fallbacks.WithLabels(route.Name, FallbackKinds.BudgetModel).Inc();
                    admission = second;
                    var target = new CompiledTarget(-1, provider, cheaper, null, null);
                    plan = new RoutePlan(route, [new RouteCandidate(target, upstream, cheaper)], pathAndQuery, sendBody, model, FallbackKinds.BudgetModel);
                }
            }
        }

        if (admission.Kind == AdmissionKind.Blocked)
        {
            Log.RequestBlocked(logger, model, admission.BlockingBudget!.Name, admission.BlockingCharge!.Scope);
            metrics.RecordRequest(labels, RequestOutcomes.Blocked);
            await ErrorResponses.WriteBudgetExceededAsync(context, dialect, admission);
            await RecordAsync(admission, tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, time.GetElapsedTime(started), null, RequestOutcomes.Blocked, context.Response.StatusCode);
            return;
        }

        if (admission.Kind == AdmissionKind.LedgerUnavailable)
        {
            Log.LedgerUnavailable(logger, admission.BlockingBudget!.Name, admission.Reason ?? string.Empty);
            metrics.RecordRequest(labels, RequestOutcomes.Rejected);
            context.Response.Headers.RetryAfter = "5";
            await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, dialect, "ledger_unavailable",
                $"Budget \"{admission.BlockingBudget.Name}\" cannot be checked because the spend ledger is unavailable ({admission.Reason}); it fails closed. Retry shortly.");
            await RecordAsync(admission, tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, time.GetElapsedTime(started), null, RequestOutcomes.Rejected, context.Response.StatusCode);
            return;
        }

        context.Request.Body = injected is null ? new MemoryStream(body.Buffer!, 0, body.Length, writable: false) : new MemoryStream(injected, writable: false);
        context.Request.ContentLength = injected?.Length ?? body.Length;
        context.Request.Headers.Remove("Transfer-Encoding");
        context.Features.Set(upstream);
        context.Features.Set(plan);
        if (plan is not null)
        {
            retryBudget.Deposit();
        }

        using var capture = cacheKey is null ? null : new CacheCapture(cache.Options.MaxEntryBytes);
        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        var metering = new MeteringResponseStream(originalBody.Stream, context.Response, time) { Dialect = dialect, StripInjectedUsage = strip, Capture = capture };
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(metering, originalBody));

        var forwarding = time.GetTimestamp();
        var error = await forwarder.SendAsync(context, upstream.DestinationPrefix, plan is null ? upstream.Invoker : routingInvoker, _requestConfig, transformer);
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

        var outcome = plan?.Fallback is not null ? RequestOutcomes.Fallback : billable ? RequestOutcomes.Forwarded : RequestOutcomes.Unbilled;
        if (plan?.Fallback == FallbackKinds.Upstream)
        {
            metrics.Fallbacks.WithLabels(plan.Route.Name, FallbackKinds.Upstream).Inc();
        }

        TokenUsage usage;
        var estimated = false;
        if (error == ForwarderError.None || context.Response.HasStarted)
        {
            var cut = error != ForwarderError.None || context.RequestAborted.IsCancellationRequested;
            usage = ActualUsage(observation, InputEstimate, outputEstimate, cut, context.Response.StatusCode, out estimated);
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
            usage = TokenUsage.Zero;
            outcome = RequestOutcomes.UpstreamError;
            LogForwarderError(context, provider, error);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await WriteUpstreamErrorAsync(context, dialect, upstream, error);
            }
        }

        var servedModel = observation?.Model ?? model;
        var price = servedModel == model ? requested : pricing.Resolve(provider, servedModel);
        var cost = billable ? price.Price.Cost(usage) : 0m;
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
        await RecordAsync(admission, tags, provider, servedModel, metering.IsEventStream, usage, estimated, cost, latency, ttft, outcome, context.Response.StatusCode,
            plan?.Decision(provider, servedModel), cacheResult);

        var finalLabels = labels with { Model = servedModel };
        if (!price.Known && billable && usage.Total > 0)
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
        if (MetricContract.ObservesLatency(outcome, plan?.Fallback))
        {
            metrics.RecordLatency(finalLabels, metering.IsEventStream, latency, ttft);
        }

        var overhead = time.GetElapsedTime(started, forwarding) + time.GetElapsedTime(forwarded);
        metrics.Overhead.Observe(overhead.TotalSeconds);
        await metering.DisposeAsync();
    }

    /// <summary>
    /// What besides the body decides the bytes a client gets: the path, the API version and beta headers, and whether
    /// the meter hid a usage chunk it asked for (the cache key ignores <c>stream_options</c>, so this tells them apart).
    /// </summary>
    private static string CacheVariant(HttpRequest request, bool usageHidden) =>
        $"{request.Path.Value}|{request.Headers["anthropic-version"]}|{request.Headers["anthropic-beta"]}|{request.Headers["openai-beta"]}|{(usageHidden ? "usage-hidden" : "usage-as-asked")}";

    private BudgetAdmission NotAdmitted(string requestId) => new(AdmissionKind.Blocked, requestId, [], [], false, -1, default, time.GetUtcNow(), null);

    /// <summary>Answers from the cache: the exact bytes the first client received, at no cost; the saving is counted.</summary>
    private async Task ServeCachedAsync(HttpContext context, CachedResponse cached, CompiledRoute route, string requestId,
        IReadOnlyDictionary<string, string> tags, string provider, UsageLabels labels, long started)
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
        await RecordAsync(NotAdmitted(requestId) with { Kind = AdmissionKind.Allowed }, tags, provider, cached.Model, cached.EventStream, TokenUsage.Zero, false, 0m,
            time.GetElapsedTime(started), null, RequestOutcomes.Cached, cached.Status, new RouteDecision(route.Name, -1, provider, cached.Model, 0, null), "hit", cached.CostUsd);
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
    private async Task RecordAsync(BudgetAdmission admission, IReadOnlyDictionary<string, string> tags, string provider, string model, bool streaming,
        TokenUsage usage, bool estimated, decimal cost, TimeSpan latency, TimeSpan? ttft, string outcome, int status, RouteDecision? route = null, string? cacheResult = null,
        decimal savedUsd = 0m)
    {
        var charges = BudgetGuard.ChargesToSettle(admission);
        var amounts = charges.Count > 0 ? BudgetGuard.AmountsFor(admission, usage, cost) : [];
        for (var i = 0; i < charges.Count; i++)
        {
            spendHistory.Add(admission.At, charges[i].Budget, charges[i].Scope, amounts[i]);
        }

        var usageEvent = new UsageEvent(admission.RequestId, admission.At, options.Namespace, tags, provider, model, streaming, usage, estimated, cost,
            latency.TotalSeconds, ttft?.TotalSeconds, outcome, status, BudgetCharges.From(admission, amounts), route, cacheResult, savedUsd);
        try
        {
            // CancellationToken.None: this is the commit step; the client leaving must not abandon it.
            if (!await recorder.RecordAsync(new UsageRecord(admission.RequestId, charges, amounts, usageEvent), CancellationToken.None))
            {
                Log.UsageSpooled(logger, admission.RequestId, recorder.Spool.Count);
            }
        }
        catch (IOException ex)
        {
            Log.UsageLost(logger, admission.RequestId, recorder.Spool.Path ?? "memory", ex);
        }
    }

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

        context.Features.Set(upstream);
        var error = await forwarder.SendAsync(context, upstream.DestinationPrefix, upstream.Invoker, PassthroughConfig, transformer);
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
        await RecordAsync(NotAdmitted(requestId) with { Kind = AdmissionKind.Allowed }, tags, upstream.Provider, string.Empty, false, TokenUsage.Zero, false, 0m, latency, null,
            outcome, context.Response.StatusCode);
    }

    private static TokenUsage ActualUsage(UsageObservation? observation, Func<long> inputEstimate, long outputEstimate, bool cut, int status, out bool estimated)
    {
        estimated = false;
        if (observation is { ReportedByProvider: true })
        {
            return observation.Usage;
        }

        if (status >= 400)
        {
            // Providers do not bill failed requests; an error body carries no usage.
            return observation?.Usage ?? TokenUsage.Zero;
        }

        // No usage report. Keep what the provider did report (Anthropic's message_start has the input) and estimate the rest.
        // A cut stream (the client or the upstream left) ran as far as its content events, at least one token each; a response
        // that completed and still reported nothing is charged its whole reservation, so that hiding usage never pays.
        estimated = true;
        var partial = observation?.Usage ?? TokenUsage.Zero;
        var input = partial.Input + partial.CacheRead + partial.CacheWrite > 0 ? partial.Input : inputEstimate();
        var seen = Math.Max(partial.Output, observation?.DeltaEvents ?? 0);
        var output = cut ? Math.Max(seen, 1) : Math.Max(seen, outputEstimate);
        return partial with { Input = input, Output = output };
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

        return JsonSerializer.SerializeToUtf8Bytes(node);
    }

    /// <summary>
    /// The tagging header: <c>X-Tollgate-Metadata</c> or its alias. One value only; when both are sent they must agree,
    /// because a gateway in front may read the other one.
    /// </summary>
    private static (string Name, string? Value, string? Error) MetadataHeader(HttpRequest request)
    {
        var primary = request.Headers[RequestTags.HeaderName];
        var alias = request.Headers[RequestTags.AliasHeaderName];
        if (primary.Count > 1 || alias.Count > 1)
        {
            return (RequestTags.HeaderName, null, $"Send the {(primary.Count > 1 ? RequestTags.HeaderName : RequestTags.AliasHeaderName)} header once; it was sent {Math.Max(primary.Count, alias.Count)} times.");
        }

        if (primary.Count == 1 && alias.Count == 1 && !string.Equals(primary[0], alias[0], StringComparison.Ordinal))
        {
            return (RequestTags.HeaderName, null, $"The {RequestTags.HeaderName} and {RequestTags.AliasHeaderName} headers disagree; send one of them.");
        }

        return primary.Count == 1 ? (RequestTags.HeaderName, primary[0], null)
            : alias.Count == 1 ? (RequestTags.AliasHeaderName, alias[0], null)
            : (RequestTags.HeaderName, null, null);
    }

    /// <summary>The provider whose error shape suits a request refused before its endpoint is known.</summary>
    private static string ProviderHint(HttpRequest request) =>
        request.Headers.ContainsKey("anthropic-version") ? Providers.Anthropic : Providers.OpenAI;

    private static string Tag(IReadOnlyDictionary<string, string> tags, string key) => tags.TryGetValue(key, out var value) ? value : string.Empty;

    /// <summary>
    /// Counts a request refused before admission and publishes its usage event, so the exporter counts it as this meter
    /// does. Its tags and model may be hostile: the event carries only what this meter publishes for it, the checked
    /// team and repo (none when the tags failed their check) and no model, so the exporter folds and admits exactly
    /// the label values the meter did and no unchecked text reaches the stream.
    /// </summary>
    private Task RecordRejectedAsync(HttpContext context, string requestId, long started, IReadOnlyDictionary<string, string>? tags, string provider)
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
        return RecordAsync(NotAdmitted(requestId), published, provider, string.Empty, false, TokenUsage.Zero, false, 0m, time.GetElapsedTime(started), null,
            RequestOutcomes.Rejected, context.Response.StatusCode);
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

    private static async ValueTask<RequestBody> ReadBodyAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return RequestBody.TooLargeBody;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is > 0 and var declared ? (int)declared : 16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return new RequestBody(buffer, length, false);
                }

                length += read;
                if (length > limit)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return RequestBody.TooLargeBody;
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private readonly record struct RequestBody(byte[]? Buffer, int Length, bool TooLarge)
    {
        public static RequestBody TooLargeBody => new(null, 0, true);

        public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

        public ReadOnlyMemory<byte> Memory => Buffer.AsMemory(0, Length);

        public void Return()
        {
            if (Buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(Buffer);
            }
        }
    }
}
