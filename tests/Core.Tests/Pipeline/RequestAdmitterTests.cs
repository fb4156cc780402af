using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.Estimation;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.RateLimits;
using Tollgate.Core.Routing;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Pipeline;

public sealed class RequestAdmitterTests : IDisposable
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] ChatBody = Encoding.UTF8.GetBytes("""{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"Summarize the build log."}]}""");
    private static readonly byte[] StreamedChatBody = Encoding.UTF8.GetBytes("""{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Summarize the build log."}]}""");

    private readonly FakeTimeProvider _time = new(Noon);
    private readonly UsageRecorder _recorder;
    private readonly ResponseCache _cache;
    private readonly BudgetAdmitter _budgets;
    private readonly InProcessRateLimiter _limiter = new();
    private readonly List<string> _resolved = [];

    public RequestAdmitterTests()
    {
        var ledger = EmbeddedLedger.InMemory(_time);
        _recorder = new UsageRecorder(ledger, NoUsageSink.Instance, UsageSpool.InMemory());
        _cache = new ResponseCache(new ResponseCacheOptions(), _time);
        _budgets = new BudgetAdmitter(new Settlement(new BudgetGuard(ledger, _time), _recorder, new DailySpendHistory(), _time));
    }

    public void Dispose() => _recorder.Dispose();

    [Fact]
    public async Task AdmitAsync_NoRuleWithinBudget_AdmitsWithTheReservation()
    {
        var result = await AdmitAsync(Policy(budget: 1_000_000));

        var admitted = Assert.IsType<Admitted<Candidate>>(result);
        Assert.Equal(AdmissionKind.Allowed, admitted.Admission?.Kind);
        Assert.Null(admitted.Route);
        Assert.Empty(admitted.Candidates);
        Assert.Null(admitted.CacheKey);
        Assert.Null(result.CacheLookup);
        Assert.Equal(100, admitted.OutputEstimate);
        Assert.Equal(ChatBody, admitted.Body.ToArray());
        Assert.Empty(_resolved);
    }

    [Fact]
    public async Task AdmitAsync_InputOverTheRulesLimit_RefusesWith413BeforeAnyBudget()
    {
        var result = await AdmitAsync(Policy(budget: 1, rule: "limits: { maxInputTokens: 3 }"));

        var refused = Assert.IsType<InputTooLarge>(result);
        Assert.Equal(413, refused.Refusal.Status);
        Assert.Equal("request_too_large", refused.Refusal.Type);
        Assert.Equal(RequestOutcomes.Rejected, refused.Outcome);
        Assert.Equal(3, refused.Limit);
        Assert.True(refused.Measured > 3);
        Assert.Null(refused.Admission);
    }

    [Fact]
    public async Task AdmitAsync_CachedResponse_IsServedWithoutAskingTheBudgets()
    {
        var policy = Policy(budget: 1, rule: "cache: { enabled: true, ttlSeconds: 600 }");
        var first = Assert.IsType<Admitted<Candidate>>(await AdmitAsync(Policy(budget: 1_000_000, rule: "cache: { enabled: true, ttlSeconds: 600 }")));
        Assert.Equal("miss", first.CacheLookup);
        var stored = new CachedResponse(200, "application/json", new byte[] { 1, 2, 3 }, "gpt-4o", new TokenUsage(10, 5, 0, 0, 0), 0.01m, false, Noon);
        Assert.True(_cache.TryAdd(first.CacheKey!.Value, stored));

        var result = await AdmitAsync(policy);

        var hit = Assert.IsType<CacheHit>(result);
        Assert.Same(stored, hit.Cached);
        Assert.Equal("hit", result.CacheLookup);
    }

    [Fact]
    public async Task AdmitAsync_RuleRateReached_RefusesWith429ThatTellsTheSdkToRetry()
    {
        var policy = Policy(budget: 1_000_000, rule: "limits: { requestsPerMinute: 1 }");
        Assert.IsType<Admitted<Candidate>>(await AdmitAsync(policy));

        var result = await AdmitAsync(policy);

        var limited = Assert.IsType<RateLimited>(result);
        Assert.Equal(429, limited.Refusal.Status);
        Assert.Equal(RequestOutcomes.Blocked, limited.Outcome);
        Assert.Contains(new KeyValuePair<string, string>("x-should-retry", "true"), limited.Refusal.Headers);
        Assert.Contains(new KeyValuePair<string, string>("x-tollgate-rate-limit", "limits"), limited.Refusal.Headers);
        Assert.Contains(limited.Refusal.Headers, h => h.Key == "Retry-After");
        Assert.Single(_resolved);
    }

    [Fact]
    public async Task AdmitAsync_RateLimiterUnreachable_AdmitsAndSaysWhy()
    {
        var result = await AdmitAsync(Policy(budget: 1_000_000, rule: "limits: { requestsPerMinute: 1 }"), limiter: new UnreachableLimiter());

        var admitted = Assert.IsType<Admitted<Candidate>>(result);
        Assert.Equal("counters unreachable", admitted.RateLimiterUnavailable);
        Assert.Single(admitted.RateLimits);
    }

    [Fact]
    public async Task AdmitAsync_BudgetSpent_RefusesWithTheBudgetExceededContract()
    {
        var result = await AdmitAsync(Policy(budget: 10));

        var refused = Assert.IsType<BudgetRefused>(result);
        Assert.Equal(429, refused.Refusal.Status);
        Assert.Equal("budget_exceeded", refused.Refusal.Type);
        Assert.Equal(RequestOutcomes.Blocked, refused.Outcome);
        Assert.Equal(AdmissionKind.Blocked, refused.Admission?.Kind);
        Assert.Contains(new KeyValuePair<string, string>("x-should-retry", "false"), refused.Refusal.Headers);
        Assert.Contains(new KeyValuePair<string, string>("x-tollgate-budget", "daily"), refused.Refusal.Headers);
    }

    [Fact]
    public async Task AdmitAsync_BudgetSpentWithAFixedResponse_AnswersWithTheRulesText()
    {
        var result = await AdmitAsync(Policy(budget: 10, rule: "fallback: { onBudgetExceeded: { response: \"Budget spent.\" } }"));

        var fallback = Assert.IsType<FixedResponseFallback>(result);
        Assert.Equal("Budget spent.", fallback.Text);
        Assert.Equal(AdmissionKind.Blocked, fallback.Verdict.Admission.Kind);
    }

    [Fact]
    public async Task AdmitAsync_BudgetSpentWithACheaperModel_AdmitsTheCheaperModel()
    {
        var result = await AdmitAsync(Policy(budget: 10, rule: "fallback: { onBudgetExceeded: { model: gpt-4o-mini } }"));

        var admitted = Assert.IsType<Admitted<Candidate>>(result);
        Assert.Equal("gpt-4o-mini", admitted.FallbackModel);
        Assert.Equal(["cheap"], admitted.Admission!.Budgets.Select(b => b.Name));
    }

    [Fact]
    public async Task AdmitAsync_RoutedToAnotherModel_ChargesTheBudgetsOfTheModelSent()
    {
        var result = await AdmitAsync(Policy(budget: 10, rule: "route: { targets: [{ provider: openai, model: gpt-4o-mini }] }"));

        var admitted = Assert.IsType<Admitted<Candidate>>(result);
        Assert.Equal(["gpt-4o-mini"], admitted.Candidates.Select(c => c.Model));
        Assert.Equal(["cheap"], admitted.Admission!.Budgets.Select(b => b.Name));
        Assert.Equal(["limits"], _resolved);
    }

    [Fact]
    public async Task AdmitAsync_StreamedChatWithoutUsage_AsksForUsageAndHidesIt()
    {
        var result = await AdmitAsync(Policy(budget: 1_000_000), StreamedChatBody);

        var admitted = Assert.IsType<Admitted<Candidate>>(result);
        Assert.True(admitted.StripInjectedUsage);
        Assert.Contains("\"include_usage\":true", Encoding.UTF8.GetString(admitted.Body.Span), StringComparison.Ordinal);
    }

    private async Task<AdmitResult> AdmitAsync(PolicySnapshot policy, byte[]? body = null, IRateLimiter? limiter = null)
    {
        body ??= ChatBody;
        var admitter = new RequestAdmitter(() => policy, _budgets, limiter ?? _limiter, _cache, new InputTokenEstimator(InputEstimateMode.Bytes),
            PricingCatalog.LoadEmbedded(), new AdmitSettings(new Dictionary<string, string>(), 4096), _time);
        var shape = RequestShape.Read(body);
        var request = new MeteredRequest("req-" + Guid.NewGuid().ToString("N"), _time.GetTimestamp(), string.Empty,
            new Dictionary<string, string> { ["team"] = "payments" }, Providers.OpenAI, shape.Model!, shape.Stream);
        var input = new AdmitInput(ApiDialect.OpenAIChatCompletions, body, shape, new ResponseVariant("/v1/chat/completions", "", "", ""), CanAnswerFixed: true);
        return await admitter.AdmitAsync(request, input, Resolve, CancellationToken.None);
    }

    private IReadOnlyList<Candidate> Resolve(CompiledRoute route)
    {
        _resolved.Add(route.Name);
        return [.. route.Targets.Select(t => new Candidate(t.Model))];
    }

    /// <summary>
    /// A budget "daily" on gpt-4o of <paramref name="budget"/> tokens (hard-capped, so a reservation that does not fit is
    /// refused), one "cheap" on gpt-4o-mini with room, and, with <paramref name="rule"/>, a rule "limits" on gpt-4o.
    /// </summary>
    private static PolicySnapshot Policy(int budget, string? rule = null) =>
        PolicyCompiler.Compile(PolicyLoader.Parse("test.yaml", $$"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: daily }
            spec: { hardCap: true, match: { models: [gpt-4o] }, limit: { amount: {{budget}}, unit: tokens, period: day } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: cheap }
            spec: { match: { models: [gpt-4o-mini] }, limit: { amount: 1000000, unit: tokens, period: day } }
            {{(rule is null ? "" : $$"""
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: limits }
            spec: { match: { models: [gpt-4o] }, {{rule}} }
            """)}}
            """), "test.yaml");

    private sealed record Candidate(string Model) : IRouteCandidate;

    private sealed class UnreachableLimiter : IRateLimiter
    {
        public ValueTask<RateLimitResult> AcquireAsync(IReadOnlyList<RateLimitCharge> charges, DateTimeOffset now, CancellationToken cancellationToken) =>
            throw new LedgerUnavailableException("counters unreachable");

        public ValueTask RecordTokensAsync(IReadOnlyList<RateLimitCharge> charges, long tokens, DateTimeOffset now, CancellationToken cancellationToken) =>
            throw new LedgerUnavailableException("counters unreachable");
    }
}
