using System.Globalization;
using System.Text.Json;
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

        return JsonSerializer.SerializeToUtf8Bytes(node);
    }
}

/// <summary>What the admit stage needs of the meter's configuration.</summary>
/// <param name="NamespaceLabels">Labels of the meter's namespace, for budgets' <c>namespaceSelector</c>.</param>
/// <param name="DefaultMaxOutputTokens">The output reserved when a request sets no cap.</param>
public sealed record AdmitSettings(IReadOnlyDictionary<string, string> NamespaceLabels, long DefaultMaxOutputTokens);

/// <summary>A metered request as the admit stage reads it.</summary>
/// <param name="Dialect">Its API.</param>
/// <param name="Body">The body the client sent, read once.</param>
/// <param name="Shape">The model, stream flag and output cap read from it.</param>
/// <param name="Headers">What besides the body decides the bytes a client gets.</param>
/// <param name="CanAnswerFixed">Whether a budget fallback's fixed response can be written in the client's API.</param>
public sealed record AdmitInput(ApiDialect Dialect, ReadOnlyMemory<byte> Body, RequestShape Shape, ResponseVariant Headers, bool CanAnswerFixed)
{
    /// <summary>
    /// The part of the cache key besides the body: the path, the API version and beta headers, and whether the meter
    /// hid a usage chunk it asked for (the key ignores <c>stream_options</c>, so this tells them apart).
    /// </summary>
    public string CacheVariant(bool usageHidden) =>
        $"{Headers.Path}|{Headers.AnthropicVersion}|{Headers.AnthropicBeta}|{Headers.OpenAIBeta}|{(usageHidden ? "usage-hidden" : "usage-as-asked")}";
}

/// <summary>The request's path and the headers that select a provider's API version and betas.</summary>
public sealed record ResponseVariant(string Path, string AnthropicVersion, string AnthropicBeta, string OpenAIBeta);

/// <summary>A routing target made concrete for one request; the admit stage needs only the model it sends.</summary>
public interface IRouteCandidate
{
    string Model { get; }
}

/// <summary>The refusals of the admit stage: status, error and headers, in the client's API's error shape.</summary>
public static class AdmissionRefusals
{
    public static Refusal InputTooLarge(ApiDialect dialect, string rule, long measured, long limit) =>
        new(413, Providers.Of(dialect), "request_too_large",
            $"The request has about {measured} input tokens; routing rule \"{rule}\" allows at most {limit} (limits.maxInputTokens). Trim the context (summarise history, send fewer files) and retry.",
            json =>
            {
                json.WriteString("rule_id", rule);
                json.WriteNumber("max_input_tokens", limit);
                json.WriteNumber("measured_input_tokens", measured);
            });

    /// <summary>
    /// A routing rule's request or token limit: 429 with <c>Retry-After</c> to when the window has room and
    /// <c>x-should-retry: true</c>, so SDKs wait and retry by themselves (unlike a spent budget, this passes).
    /// </summary>
    public static Refusal RateLimited(ApiDialect dialect, RateLimitCharge rule, RateLimitResult result)
    {
        var unit = result.Kind == RateLimitKind.Requests ? "requests" : "tokens";
        var seconds = (long)result.RetryAfter.TotalSeconds;
        var detail = $"Routing rule \"{rule.Key}\" allows {result.Limit} {unit} per minute and that is reached; retry in {seconds} s.";
        return new Refusal(429, Providers.Of(dialect), "rate_limit_exceeded", detail, json =>
        {
            json.WriteString("rule_id", rule.Key);
            json.WriteString("detail", detail);
            json.WriteString("mitigation", "The SDK retries after Retry-After; if this recurs, spread the pipeline's requests or ask the platform team to raise the rule's limits.");
        })
        {
            Headers = [new("Retry-After", seconds.ToString(CultureInfo.InvariantCulture)), new("x-should-retry", "true"), new("x-tollgate-rate-limit", rule.Key)],
        };
    }

    /// <summary>
    /// A budget's refusal. Spent: the budget-exceeded contract, 429 with <c>Retry-After</c> to the period's reset and
    /// <c>x-should-retry: false</c>. Unreachable under a fail-closed budget: 503, retry shortly.
    /// </summary>
    public static Refusal Budget(ApiDialect dialect, BudgetAdmission admission)
    {
        var budget = admission.BlockingBudget!;
        if (admission.Kind == AdmissionKind.LedgerUnavailable)
        {
            return new Refusal(503, Providers.Of(dialect), "ledger_unavailable",
                $"Budget \"{budget.Name}\" cannot be checked because the spend ledger is unavailable ({admission.Reason}); it fails closed. Retry shortly.")
            {
                Headers = [new("Retry-After", "5")],
            };
        }

        var detail = BudgetMessages.Refused(admission);
        return new Refusal(429, Providers.Of(dialect), "budget_exceeded", detail, json =>
        {
            json.WriteString("rule_id", budget.Name);
            json.WriteString("detail", detail);
            json.WriteString("mitigation", budget.Mitigation ?? BudgetMessages.DefaultMitigation);
            if (BudgetMessages.Dashboard(budget) is { } dashboard)
            {
                json.WriteString("dashboard", dashboard);
            }
        })
        {
            Headers =
            [
                new("Retry-After", admission.BlockingCharge!.Window.SecondsUntilEnd(admission.At).ToString(CultureInfo.InvariantCulture)),
                new("x-should-retry", "false"),
                new("x-tollgate-budget", budget.Name),
            ],
        };
    }
}
