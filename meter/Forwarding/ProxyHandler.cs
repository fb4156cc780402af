using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.Estimation;
using Tollgate.Core.Events;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Routing;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;
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
        var dialect = DialectRouter.Route(context.Request);
        if (dialect == ApiDialect.Passthrough)
        {
            await PassThroughAsync(context);
            return;
        }

        var provider = Providers.Of(dialect);
        var upstream = upstreams.Get(provider);
        var (headerName, header) = MetadataHeader(context.Request);
        var tagResult = RequestTags.Parse(header, headerName, options.IdentityTags, options.RequiredTags);
        if (tagResult.Tags is null)
        {
            RecordRejected(tagResult.Tags, provider, string.Empty);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, dialect,
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
            return;
        }

        var tags = tagResult.Tags;
        if (upstream is null)
        {
            RecordRejected(tags, provider, string.Empty);
            await ErrorResponses.WriteAsync(context, StatusCodes.Status502BadGateway, dialect, "upstream_unavailable",
                $"No upstream is configured for {provider}; start the meter with --upstream {provider}=<url>.");
            return;
        }

        var body = await ReadBodyAsync(context.Request, options.MaxRequestBodyBytes, context.RequestAborted);
        try
        {
            if (body.TooLarge)
            {
                RecordRejected(tags, provider, string.Empty);
                await ErrorResponses.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, dialect, "request_too_large",
                    $"The request body exceeds the meter's limit of {options.MaxRequestBodyBytes} bytes (--max-request-bytes).");
                return;
            }

            RequestShape shape;
            try
            {
                shape = RequestShape.Read(body.Span);
            }
            catch (JsonException ex)
            {
                RecordRejected(tags, provider, string.Empty);
                await ErrorResponses.WriteAsync(context, StatusCodes.Status400BadRequest, dialect, "invalid_request",
                    $"The request body is not a valid JSON object: {ex.Message.Split(" Path:")[0]}");
                return;
            }

            await MeterAsync(context, dialect, upstream, tags, body, shape, started);
        }
        finally
        {
            body.Return();
        }
    }

    private async Task MeterAsync(HttpContext context, ApiDialect dialect, Upstream upstream, IReadOnlyDictionary<string, string> tags,
        RequestBody body, RequestShape shape, long started)
    {
        var provider = upstream.Provider;
        var model = shape.Model ?? string.Empty;
        var labels = new UsageLabels(options.Namespace, Tag(tags, "team"), Tag(tags, "repo"), Tag(tags, "pipeline"), Tag(tags, "agent_step"), provider, model);
        var requested = pricing.Resolve(provider, model);
        var billable = dialect != ApiDialect.AnthropicCountTokens;

        var strip = dialect == ApiDialect.OpenAIChatCompletions && shape.Stream && !shape.IncludeUsageRequested;
        var injected = strip ? InjectIncludeUsage(body.Span) : null;

        long? inputEstimate = null;
        long InputEstimate() => inputEstimate ??= billable ? estimator.Estimate(body.Span, provider) : 0;
        var outputEstimate = dialect is ApiDialect.OpenAIEmbeddings or ApiDialect.AnthropicCountTokens ? 0 : shape.MaxOutputTokens ?? options.DefaultMaxOutputTokens;

        var requestId = Guid.CreateVersion7().ToString("N");
        context.Response.Headers["x-tollgate-request-id"] = requestId;
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
            await RecordAsync(NotAdmitted(requestId), tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, started, null, RequestOutcomes.Rejected, context.Response.StatusCode);
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
            await RecordAsync(NotAdmitted(requestId), tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, started, null, RequestOutcomes.Blocked, context.Response.StatusCode);
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
                metrics.Fallbacks.WithLabels(route.Name, "budget_response").Inc();
                metrics.RecordRequest(labels, RequestOutcomes.Fallback);
                var fixedPlan = new RoutePlan(route, [], pathAndQuery, sendBody, model, "budget_response");
                context.Response.Headers["x-tollgate-route"] = fixedPlan.Header();
                await FallbackResponses.WriteAsync(context, dialect, shape.Stream, model, text, requestId, admission.At);
                await RecordAsync(admission, tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, started, null, RequestOutcomes.Fallback,
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
                    metrics.Fallbacks.WithLabels(route.Name, "budget_model").Inc();
                    admission = second;
                    var target = new CompiledTarget(-1, provider, cheaper, null, null);
                    plan = new RoutePlan(route, [new RouteCandidate(target, upstream, cheaper)], pathAndQuery, sendBody, model, "budget_model");
                }
            }
        }

        if (admission.Kind == AdmissionKind.Blocked)
        {
            Log.RequestBlocked(logger, model, admission.BlockingBudget!.Name, admission.BlockingCharge!.Scope);
            metrics.RecordRequest(labels, RequestOutcomes.Blocked);
            await ErrorResponses.WriteBudgetExceededAsync(context, dialect, admission);
            await RecordAsync(admission, tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, started, null, RequestOutcomes.Blocked, context.Response.StatusCode);
            return;
        }

        if (admission.Kind == AdmissionKind.LedgerUnavailable)
        {
            Log.LedgerUnavailable(logger, admission.BlockingBudget!.Name, admission.Reason ?? string.Empty);
            metrics.RecordRequest(labels, RequestOutcomes.Rejected);
            context.Response.Headers.RetryAfter = "5";
            await ErrorResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, dialect, "ledger_unavailable",
                $"Budget \"{admission.BlockingBudget.Name}\" cannot be checked because the spend ledger is unavailable ({admission.Reason}); it fails closed. Retry shortly.");
            await RecordAsync(admission, tags, provider, model, shape.Stream, TokenUsage.Zero, false, 0m, started, null, RequestOutcomes.Rejected, context.Response.StatusCode);
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
        var error = await forwarder.SendAsync(context, upstream.DestinationPrefix, plan is null ? upstream.Invoker : routingInvoker, _requestConfig, UpstreamTransformer.Instance);
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

        var outcome = plan?.Fallback is null ? RequestOutcomes.Forwarded : RequestOutcomes.Fallback;
        if (plan?.Fallback == "upstream")
        {
            metrics.Fallbacks.WithLabels(plan.Route.Name, "upstream").Inc();
        }

        TokenUsage usage;
        var estimated = false;
        if (error == ForwarderError.None || context.Response.HasStarted)
        {
            usage = ActualUsage(observation, InputEstimate, context.Response.StatusCode, out estimated);
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

        await RecordAsync(admission, tags, provider, servedModel, metering.IsEventStream, usage, estimated, cost, started, ttft, outcome, context.Response.StatusCode,
            plan?.Decision(provider, servedModel), cacheResult);

        var finalLabels = labels with { Model = servedModel };
        if (!price.Known && billable && usage.Total > 0)
        {
            Log.UnpricedModel(logger, provider, servedModel);
            metrics.UnpricedRequests.WithLabels(provider, servedModel).Inc();
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
        var seconds = time.GetElapsedTime(started).TotalSeconds;
        metrics.PromptLatency.WithLabels(finalLabels.Namespace, finalLabels.Team, finalLabels.Repo, provider, servedModel, metering.IsEventStream ? "true" : "false")
            .Observe(seconds);
        if (ttft is { } firstToken)
        {
            metrics.TimeToFirstToken.WithLabels(finalLabels.Namespace, finalLabels.Team, finalLabels.Repo, provider, servedModel)
                .Observe(firstToken.TotalSeconds);
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
        metrics.CacheSaved.WithLabels(servedLabels.Namespace, servedLabels.Team, servedLabels.Repo, servedLabels.Pipeline, servedLabels.AgentStep, provider, cached.Model)
            .Inc((double)cached.CostUsd);
        await RecordAsync(NotAdmitted(requestId) with { Kind = AdmissionKind.Allowed }, tags, provider, cached.Model, cached.EventStream, TokenUsage.Zero, false, 0m,
            started, null, RequestOutcomes.Cached, cached.Status, new RouteDecision(route.Name, -1, provider, cached.Model, 0, null), "hit", cached.CostUsd);
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
        TokenUsage usage, bool estimated, decimal cost, long started, TimeSpan? ttft, string outcome, int status, RouteDecision? route = null, string? cacheResult = null,
        decimal savedUsd = 0m)
    {
        var charges = BudgetGuard.ChargesToSettle(admission);
        var amounts = charges.Count > 0 ? BudgetGuard.AmountsFor(admission, usage, cost) : [];
        for (var i = 0; i < charges.Count; i++)
        {
            spendHistory.Add(admission.At, charges[i].Budget, charges[i].Scope, amounts[i]);
        }

        var usageEvent = new UsageEvent(admission.RequestId, admission.At, options.Namespace, tags, provider, model, streaming, usage, estimated, cost,
            time.GetElapsedTime(started).TotalSeconds, ttft?.TotalSeconds, outcome, status, BudgetCharges.From(admission, amounts), route, cacheResult, savedUsd);
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

    private async Task PassThroughAsync(HttpContext context)
    {
        var upstream = upstreams.Get(DialectRouter.ProviderOfPassthrough(context.Request));
        if (upstream is null)
        {
            await ErrorResponses.WriteAsync(context, StatusCodes.Status502BadGateway, ApiDialect.Passthrough, "upstream_unavailable", "No upstream is configured for this request.");
            return;
        }

        context.Features.Set(upstream);
        var error = await forwarder.SendAsync(context, upstream.DestinationPrefix, upstream.Invoker, PassthroughConfig, UpstreamTransformer.Instance);
        if (error != ForwarderError.None && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            LogForwarderError(context, upstream.Provider, error);
            await WriteUpstreamErrorAsync(context, ApiDialect.Passthrough, upstream, error);
        }
    }

    private static TokenUsage ActualUsage(UsageObservation? observation, Func<long> inputEstimate, int status, out bool estimated)
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

        // The response ended before the provider reported usage (an abandoned or cut stream). Keep what it did report
        // (Anthropic's message_start has the input) and estimate the rest: each content event carries at least a token.
        estimated = true;
        var partial = observation?.Usage ?? TokenUsage.Zero;
        var input = partial.Input + partial.CacheRead + partial.CacheWrite > 0 ? partial.Input : inputEstimate();
        return partial with { Input = input, Output = Math.Max(partial.Output, observation?.DeltaEvents ?? 0) };
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

    private static (string Name, string? Value) MetadataHeader(HttpRequest request)
    {
        if (request.Headers.TryGetValue(RequestTags.HeaderName, out var value))
        {
            return (RequestTags.HeaderName, value.ToString());
        }

        return request.Headers.TryGetValue(RequestTags.AliasHeaderName, out var alias)
            ? (RequestTags.AliasHeaderName, alias.ToString())
            : (RequestTags.HeaderName, null);
    }

    private static string Tag(IReadOnlyDictionary<string, string> tags, string key) => tags.TryGetValue(key, out var value) ? value : string.Empty;

    private void RecordRejected(IReadOnlyDictionary<string, string>? tags, string provider, string model)
    {
        var labels = new UsageLabels(options.Namespace, tags is null ? string.Empty : Tag(tags, "team"), tags is null ? string.Empty : Tag(tags, "repo"),
            string.Empty, string.Empty, provider, model);
        metrics.RecordRequest(labels, RequestOutcomes.Rejected);
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
        var exception = context.GetForwarderErrorFeature()?.Exception;
        var reason = exception?.InnerException?.Message ?? exception?.Message ?? error.ToString();
        var status = error == ForwarderError.RequestTimedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway;
        return ErrorResponses.WriteAsync(context, status, dialect, "upstream_unavailable",
            $"The meter could not get a response from the {upstream.Provider} upstream at {upstream.DestinationPrefix}: {reason}");
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
