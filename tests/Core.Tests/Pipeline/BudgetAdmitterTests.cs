using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Matching;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Policy;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Pipeline;

public sealed class BudgetAdmitterTests : IDisposable
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 2, 12, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Noon);
    private readonly UsageRecorder _recorder;
    private readonly BudgetAdmitter _admitter;

    public BudgetAdmitterTests()
    {
        var ledger = EmbeddedLedger.InMemory(_time);
        _recorder = new UsageRecorder(ledger, NoUsageSink.Instance, UsageSpool.InMemory());
        _admitter = new BudgetAdmitter(new Settlement(new BudgetGuard(ledger, _time), _recorder, new DailySpendHistory(), _time));
    }

    public void Dispose() => _recorder.Dispose();

    [Fact]
    public async Task AdmitAsync_BlockedWithResponseFallback_AnswersWithTheFixedResponse()
    {
        var policy = Policy("gpt-4o", "response: \"Budget spent; try tomorrow\"");

        var verdict = await AdmitAsync(policy, canAnswerFixed: true);

        Assert.Equal(FallbackKinds.BudgetResponse, verdict.Fallback);
        Assert.Equal(AdmissionKind.Blocked, verdict.Admission.Kind);
        Assert.Equal("gpt-4o", verdict.Model);
        Assert.Equal("dear", verdict.BlockingBudget?.Name);
    }

    [Fact]
    public async Task AdmitAsync_ResponseFallbackTheApiCannotCarry_StaysBlocked()
    {
        var policy = Policy("gpt-4o", "response: \"Budget spent\"");

        var verdict = await AdmitAsync(policy, canAnswerFixed: false);

        Assert.Null(verdict.Fallback);
        Assert.Equal(AdmissionKind.Blocked, verdict.Admission.Kind);
    }

    [Fact]
    public async Task AdmitAsync_BlockedWithModelFallback_AdmitsTheCheaperModelAsARequestOfItsOwn()
    {
        var policy = Policy("gpt-4o", "model: gpt-4o-mini");

        var verdict = await AdmitAsync(policy, canAnswerFixed: true);

        Assert.Equal(FallbackKinds.BudgetModel, verdict.Fallback);
        Assert.Equal("gpt-4o-mini", verdict.Model);
        Assert.Equal(AdmissionKind.Allowed, verdict.Admission.Kind);
        Assert.Equal(AdmissionKind.Blocked, verdict.Blocked?.Kind);
        Assert.Equal("dear", verdict.BlockingBudget?.Name);
        Assert.Equal(["cheap"], verdict.Admission.Budgets.Select(b => b.Name));
    }

    [Fact]
    public async Task AdmitAsync_CheaperModelAlsoOverBudget_StaysBlockedByTheFirstBudget()
    {
        var policy = Policy("[gpt-4o, gpt-4o-mini]", "model: gpt-4o-mini");

        var verdict = await AdmitAsync(policy, canAnswerFixed: true);

        Assert.Null(verdict.Fallback);
        Assert.Equal("gpt-4o", verdict.Model);
        Assert.Equal(AdmissionKind.Blocked, verdict.Admission.Kind);
        Assert.Equal("dear", verdict.BlockingBudget?.Name);
    }

    [Fact]
    public async Task AdmitAsync_WithinBudget_NeverLooksAtTheFallback()
    {
        var policy = Policy("gpt-4o", "model: gpt-4o-mini", limit: 1_000_000);

        var verdict = await AdmitAsync(policy, canAnswerFixed: true);

        Assert.Null(verdict.Fallback);
        Assert.Null(verdict.Blocked);
        Assert.Equal(AdmissionKind.Allowed, verdict.Admission.Kind);
        Assert.Equal("gpt-4o", verdict.Model);
    }

    private Task<BudgetVerdict> AdmitAsync(PolicySnapshot policy, bool canAnswerFixed)
    {
        var request = new RequestContext(string.Empty, RequestContext.NoLabels, new Dictionary<string, string> { ["team"] = "payments" }, Providers.OpenAI, "gpt-4o");
        return _admitter.AdmitAsync(policy, request, request, policy.RouteFor(request), canAnswerFixed, "req-1",
            model => new BudgetEstimate(new TokenUsage(100, 100, 0, 0, 0), 0.01m), CancellationToken.None).AsTask();
    }

    /// <summary>
    /// A hard-capped budget "dear" over <paramref name="dearModels"/> (the 200-token estimate does not fit 10 tokens), one
    /// "cheap" over gpt-4o-mini, and a rule on gpt-4o with the fallback.
    /// </summary>
    private static PolicySnapshot Policy(string dearModels, string fallback, int limit = 10) =>
        PolicyCompiler.Compile(PolicyLoader.Parse("test.yaml", $$"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: dear }
            spec:
              hardCap: true
              match: { models: {{(dearModels.StartsWith('[') ? dearModels : $"[{dearModels}]")}} }
              limit: { amount: {{limit}}, unit: tokens, period: day }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: cheap }
            spec:
              match: { models: [gpt-4o-mini] }
              limit: { amount: 1000000, unit: tokens, period: day }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: spend-less }
            spec:
              match: { models: [gpt-4o] }
              fallback: { onBudgetExceeded: { {{fallback}} } }
            """), "test.yaml");
}
