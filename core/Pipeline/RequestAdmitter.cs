using System.Text.Json.Nodes;
using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.Estimation;
using Tollgate.Core.Ledger;
using Tollgate.Core.Matching;
using Tollgate.Core.Metrics;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Routing;
using Tollgate.Core.Serialization;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// The admit stage for a metered request, in order: the routing rule, its input limit, the response cache, its rate
/// limit, then the budgets with their fallback (<see cref="BudgetAdmitter"/>). One policy snapshot decides the whole
/// request. It answers with one <see cref="AdmitResult"/> and never writes or logs: the caller turns the result into a
/// response, metrics and log lines.
/// </summary>
/// <param name="policy">The current policy snapshot.</param>
/// <param name="budgets">Reservation and the budget-fallback order.</param>
/// <param name="limiter">The routing rules' rate limits.</param>
/// <param name="cache">The routing rules' response cache.</param>
/// <param name="estimator">Input tokens of a body, for the input limit and the reservation.</param>
/// <param name="pricing">The catalog the reservation is priced by.</param>
/// <param name="settings">What the meter was started with.</param>
/// <param name="time">The meter's clock.</param>
public sealed class RequestAdmitter(
    Func<PolicySnapshot> policy,
    BudgetAdmitter budgets,
    IRateLimiter limiter,
    ResponseCache cache,
    InputTokenEstimator estimator,
    PricingCatalog pricing,
    AdmitSettings settings,
    TimeProvider time)
{
    /// <summary>Admits a metered request whose body was read and whose shape is valid.</summary>
    /// <typeparam name="TCandidate">The caller's concrete routing target.</typeparam>
    /// <param name="request">The classified request (tags, provider, model and stream flag known).</param>
    /// <param name="input">The request's dialect, body, shape and what besides the body decides its response.</param>
    /// <param name="resolve">The usable targets of a rule for this request, in order; asked only once admission gets that far.</param>
    /// <param name="cancellationToken">The request's token.</param>
    /// <exception cref="LedgerAmountException">The ledger refused the reservation's amount (a meter fault); nothing was reserved.</exception>
    public async ValueTask<AdmitResult> AdmitAsync<TCandidate>(MeteredRequest request, AdmitInput input, Func<CompiledRoute, IReadOnlyList<TCandidate>> resolve,
        CancellationToken cancellationToken)
        where TCandidate : IRouteCandidate
    {
        var (dialect, body, shape) = (input.Dialect, input.Body, input.Shape);
        var provider = request.Provider;
        var billable = dialect != ApiDialect.AnthropicCountTokens;
        var strip = dialect is ApiDialect.OpenAIChatCompletions or ApiDialect.OpenAICompletions && shape.Stream && !shape.IncludeUsageRequested;
        var sendBody = strip ? InjectIncludeUsage(body.Span) : body;

        long? inputEstimate = null;
        long InputEstimate() => inputEstimate ??= billable ? estimator.Estimate(body.Span, provider) : 0;
        var outputEstimate = dialect is ApiDialect.OpenAIEmbeddings or ApiDialect.AnthropicCountTokens ? 0 : shape.MaxOutputTokens ?? settings.DefaultMaxOutputTokens;

        var context = new RequestContext(request.Namespace, settings.NamespaceLabels, request.Tags, provider, request.Model);

        // One snapshot for the whole request: a reload in between must not route by one policy and budget by another.
        var snapshot = policy();
        var route = snapshot.RouteFor(context);

        if (route?.MaxInputTokens is { } maxInput && billable && estimator.Measure(body.Span, provider) is var measured && measured > maxInput)
        {
            return new InputTooLarge(request, AdmissionRefusals.InputTooLarge(dialect, route.Name, measured, maxInput), route, measured, maxInput);
        }

        ResponseCacheKey? cacheKey = null;
        string? cacheLookup = null;
        if (route?.CacheTtl is not null && billable)
        {
            cacheKey = ResponseCacheKey.Compute(body.Span, provider, input.CacheVariant(strip), request.Tag(TagKeys.Team));
            if (cache.TryGet(cacheKey.Value, out var cached))
            {
                return new CacheHit(request, route, cached) { CacheLookup = "hit" };
            }

            cacheLookup = "miss";
        }

        IReadOnlyList<RateLimitCharge> rateLimits = route?.RateLimit is { } rateLimit ? [rateLimit] : [];
        string? limiterUnavailable = null;
        if (rateLimits.Count > 0)
        {
            var limited = RateLimitResult.Allowed;
            try
            {
                limited = await limiter.AcquireAsync(rateLimits, time.GetUtcNow(), cancellationToken);
            }
            catch (LedgerUnavailableException ex)
            {
                // Limits pace traffic, budgets protect money: without the shared counters, pace nothing rather than stop CI.
                limiterUnavailable = ex.Message;
            }

            if (!limited.IsAllowed)
            {
                var rule = rateLimits[limited.BlockingIndex];
                return new RateLimited(request, AdmissionRefusals.RateLimited(dialect, rule, limited), rule, limited)
                {
                    CacheLookup = cacheLookup, RateLimiterUnavailable = limiterUnavailable,
                };
            }
        }

        var candidates = route is null ? [] : resolve(route);

        // Budgets see the model that will be sent: a rule that routes Sonnet to Haiku is charged to Haiku's budgets.
        var budgetRequest = candidates.Count > 0 ? context with { Model = candidates[0].Model } : context;
        var verdict = billable
            ? await budgets.AdmitAsync(snapshot, budgetRequest, context, route, input.CanAnswerFixed, request.RequestId,
                sent => BudgetEstimate.Reserve(pricing.Resolve(provider, sent).Price, InputEstimate(), outputEstimate), cancellationToken)
            : null;

        AdmitResult result = verdict switch
        {
            { Fallback: FallbackKinds.BudgetResponse } => new FixedResponseFallback(request, route!, verdict),
            { Fallback: null, Admission.Kind: AdmissionKind.Blocked or AdmissionKind.LedgerUnavailable } =>
                new BudgetRefused(request, AdmissionRefusals.Budget(dialect, verdict.Admission), verdict.Admission),
            _ => new Admitted<TCandidate>(request, billable, route, candidates, verdict, cacheKey, rateLimits, strip, sendBody, InputEstimate, outputEstimate),
        };
        return result with { CacheLookup = cacheLookup, RateLimiterUnavailable = limiterUnavailable };
    }

    /// <summary>
    /// Adds a finished request's billed tokens to its rule's token windows. Returns why they could not be counted (the
    /// shared counters are unreachable; the windows are ephemeral, so nothing is retried), or null.
    /// </summary>
    public async ValueTask<string?> RecordRateLimitTokensAsync(IReadOnlyList<RateLimitCharge> rules, long tokens)
    {
        try
        {
            // CancellationToken.None: the request is over; its tokens count even when the client left.
            await limiter.RecordTokensAsync(rules, tokens, time.GetUtcNow(), CancellationToken.None);
            return null;
        }
        catch (LedgerUnavailableException ex)
        {
            return ex.Message;
        }
    }

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
}
