using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Matching;
using Tollgate.Core.Policy;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Budgets;

/// <summary>
/// The budget semantics every ledger must honour (first match decides, every match is debited, hard caps, audit,
/// appliesPer, units, UTC periods, reservations). Each ledger gets a subclass that supplies a fresh instance.
/// </summary>
public abstract class BudgetSemanticsSuite
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 18, 12, 0, 0, TimeSpan.Zero); // a Wednesday

    protected abstract Task<IBudgetLedger> CreateLedgerAsync(TimeProvider time);

    [Fact]
    public async Task Budget_blocks_first_match_when_exhausted()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: small }
            spec: { priority: 100, limit: { amount: 1, unit: usd, period: day } }
            ---
            kind: AiBudget
            metadata: { name: large }
            spec: { priority: 10, limit: { amount: 100, unit: usd, period: day } }
            """);

        Assert.Equal(AdmissionKind.Allowed, await h.SpendAsync(1.00m));
        var blocked = await h.AdmitAsync();
        Assert.Equal(AdmissionKind.Blocked, blocked.Kind);
        Assert.Equal("small", blocked.BlockingBudget!.Name);
        Assert.Equal(1.00m, blocked.BlockingCounter.Spent);
    }

    [Fact]
    public async Task Every_matching_budget_is_debited()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: first }
            spec: { priority: 100, limit: { amount: 10, unit: usd, period: day } }
            ---
            kind: AiBudget
            metadata: { name: second }
            spec: { priority: 10, limit: { amount: 10, unit: usd, period: day } }
            ---
            kind: AiBudget
            metadata: { name: other-team }
            spec: { match: { subjects: ["team:other"] }, limit: { amount: 10, unit: usd, period: day } }
            """);

        await h.SpendAsync(0.30m);
        await h.SpendAsync(0.45m);

        Assert.Equal(0.75m, await h.SpentAsync("first"));
        Assert.Equal(0.75m, await h.SpentAsync("second"));
        Assert.Equal(0m, await h.SpentAsync("other-team"));
    }

    [Fact]
    public async Task Exhausted_lower_priority_budget_does_not_block_unless_hard_cap()
    {
        const string Policy = """
            kind: AiBudget
            metadata: { name: generous }
            spec: { priority: 100, limit: { amount: 100, unit: usd, period: day } }
            ---
            kind: AiBudget
            metadata: { name: tight }
            spec: { priority: 10, hardCap: HARDCAP, limit: { amount: 1, unit: usd, period: day } }
            """;
        await using (var soft = await Harness.StartAsync(this, Policy.Replace("HARDCAP", "false", StringComparison.Ordinal)))
        {
            await soft.SpendAsync(1.50m);
            Assert.Equal(AdmissionKind.Allowed, (await soft.AdmitAsync()).Kind);
        }

        await using var hard = await Harness.StartAsync(this, Policy.Replace("HARDCAP", "true", StringComparison.Ordinal));
        await hard.SpendAsync(1.50m);
        var blocked = await hard.AdmitAsync();
        Assert.Equal(AdmissionKind.Blocked, blocked.Kind);
        Assert.Equal("tight", blocked.BlockingBudget!.Name);
    }

    [Theory]
    [InlineData(false, 0.40, AdmissionKind.Allowed)]
    [InlineData(true, 0.40, AdmissionKind.Blocked)]
    [InlineData(true, 0.30, AdmissionKind.Allowed)]
    [InlineData(true, 0.31, AdmissionKind.Blocked)]
    public async Task Hard_cap_admits_only_an_estimate_that_fits_while_a_soft_budget_needs_only_headroom(bool hardCap, decimal estimate, AdmissionKind expected)
    {
        await using var h = await Harness.StartAsync(this, $$"""
            kind: AiBudget
            metadata: { name: cap }
            spec: { hardCap: {{(hardCap ? "true" : "false")}}, limit: { amount: 1, unit: usd, period: day } }
            """);

        await h.SpendAsync(0.70m);
        var admission = await h.AdmitAsync(estimate: estimate);
        Assert.Equal(expected, admission.Kind);
        if (expected == AdmissionKind.Blocked)
        {
            Assert.Equal(new CounterState(0.70m, 0m), admission.BlockingCounter);
            Assert.True(BudgetDecision.WouldExceed(admission.BlockingCharge!, admission.BlockingCounter));
        }
        else
        {
            // An admitted estimate is held: settled at it, the hard cap is reached exactly, never passed.
            await h.Guard.SettleAsync(admission, TokenUsage.Zero, estimate);
            Assert.Equal(0.70m + estimate, await h.SpentAsync("cap"));
            Assert.True(!hardCap || await h.SpentAsync("cap") <= 1m);
        }
    }

    [Fact]
    public async Task Hard_cap_counts_in_flight_reservations_and_blocks_a_zero_estimate_once_reached()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: cap }
            spec: { hardCap: true, limit: { amount: 1, unit: usd, period: day } }
            """);

        var first = await h.AdmitAsync(estimate: 0.6m);
        var second = await h.AdmitAsync(estimate: 0.6m);
        var third = await h.AdmitAsync(estimate: 0.4m);
        Assert.Equal((AdmissionKind.Allowed, AdmissionKind.Blocked, AdmissionKind.Allowed), (first.Kind, second.Kind, third.Kind));
        Assert.Equal(new CounterState(0m, 0.6m), second.BlockingCounter);

        // Full to the cent: nothing more fits, not even a request that estimates nothing.
        var empty = await h.AdmitAsync(estimate: 0m);
        Assert.Equal(AdmissionKind.Blocked, empty.Kind);
        Assert.False(BudgetDecision.WouldExceed(empty.BlockingCharge!, empty.BlockingCounter));
    }

    [Fact]
    public async Task Lower_priority_hard_cap_applies_the_fit_rule_behind_a_first_match_with_headroom()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: team-generous }
            spec: { priority: 100, limit: { amount: 100, unit: usd, period: day } }
            ---
            kind: AiBudget
            metadata: { name: org-hard }
            spec: { priority: 10, hardCap: true, limit: { amount: 1, unit: usd, period: day } }
            """);

        await h.SpendAsync(0.7m);
        var blocked = await h.AdmitAsync(estimate: 0.4m);
        Assert.Equal(AdmissionKind.Blocked, blocked.Kind);
        Assert.Equal("org-hard", blocked.BlockingBudget!.Name);
        Assert.Equal(AdmissionKind.Allowed, (await h.AdmitAsync(estimate: 0.3m)).Kind);
    }

    [Fact]
    public async Task Concurrent_reservations_against_a_hard_cap_never_pass_it()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: cap }
            spec: { hardCap: true, limit: { amount: 10, unit: usd, period: day } }
            """);

        // 512 at once, each reserving $0.03: exactly 333 fit under $10, whatever the interleaving.
        var admissions = await Task.WhenAll(Enumerable.Range(0, 512).Select(_ => Task.Run(async () => await h.AdmitAsync(estimate: 0.03m))));
        await Task.WhenAll(admissions.Select(a => h.Guard.SettleAsync(a, TokenUsage.Zero, 0.03m).AsTask()));

        Assert.Equal(333, admissions.Count(a => a.Kind == AdmissionKind.Allowed));
        Assert.Equal(9.99m, await h.SpentAsync("cap"));
    }

    [Fact]
    public async Task Audit_budget_tracks_but_never_blocks()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: watch-only }
            spec: { priority: 100, enforcement: audit, limit: { amount: 1, unit: usd, period: day } }
            ---
            kind: AiBudget
            metadata: { name: fallback-block }
            spec: { priority: 1, limit: { amount: 1, unit: usd, period: day } }
            """);

        await h.SpendAsync(3m);
        Assert.Equal(AdmissionKind.Allowed, (await h.AdmitAsync()).Kind);
        Assert.Equal(3m, await h.SpentAsync("watch-only"));
    }

    [Fact]
    public async Task AppliesPer_keeps_a_counter_per_repository()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: per-repo }
            spec: { appliesPer: ["metadata.repo"], limit: { amount: 2, unit: usd, period: day } }
            """);

        await h.SpendAsync(2m, repo: "checkout");
        var blocked = await h.AdmitAsync(repo: "checkout");
        Assert.Equal(AdmissionKind.Blocked, blocked.Kind);
        Assert.Equal("checkout", blocked.BlockingCharge!.Scope);
        Assert.Equal(AdmissionKind.Allowed, (await h.AdmitAsync(repo: "ledger")).Kind);
    }

    [Fact]
    public async Task Token_budget_counts_every_billed_token_type()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: tokens }
            spec: { limit: { amount: 1000, unit: tokens, period: day } }
            """);

        await h.SpendAsync(0.01m, new TokenUsage(Input: 400, Output: 300, CacheRead: 100, CacheWrite: 150, Reasoning: 49));
        Assert.Equal(999m, await h.SpentAsync("tokens"));
        Assert.Equal(AdmissionKind.Allowed, (await h.AdmitAsync()).Kind);
        await h.SpendAsync(0.01m, new TokenUsage(1, 0, 0, 0, 0));
        Assert.Equal(AdmissionKind.Blocked, (await h.AdmitAsync()).Kind);
    }

    [Fact]
    public async Task Daily_period_rolls_over_at_utc_midnight()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: daily }
            spec: { limit: { amount: 1, unit: usd, period: day } }
            """, start: new DateTimeOffset(2026, 11, 18, 23, 59, 0, TimeSpan.Zero));

        await h.SpendAsync(1m);
        var blocked = await h.AdmitAsync();
        Assert.Equal(AdmissionKind.Blocked, blocked.Kind);
        Assert.Equal(60, blocked.BlockingCharge!.Window.SecondsUntilEnd(blocked.At));

        h.Time.Advance(TimeSpan.FromMinutes(1));
        var next = await h.AdmitAsync();
        Assert.Equal(AdmissionKind.Allowed, next.Kind);
        Assert.Equal(new DateTimeOffset(2026, 11, 19, 0, 0, 0, TimeSpan.Zero), next.Charges[0].Window.Start);
    }

    [Theory]
    [InlineData("week", "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z")]
    [InlineData("month", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")]
    [InlineData("day", "2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z")]
    public async Task Periods_are_calendar_windows_in_utc(string period, string start, string end)
    {
        await using var h = await Harness.StartAsync(this, $$"""
            kind: AiBudget
            metadata: { name: p }
            spec: { limit: { amount: 1, unit: usd, period: {{period}} } }
            """);

        var admission = await h.AdmitAsync();
        Assert.Equal(DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture), admission.Charges[0].Window.Start);
        Assert.Equal(DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture), admission.Charges[0].Window.End);
    }

    [Fact]
    public async Task In_flight_reservations_count_against_the_limit()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: r }
            spec: { limit: { amount: 1, unit: usd, period: day } }
            """);

        var first = await h.AdmitAsync(estimate: 0.6m);
        var second = await h.AdmitAsync(estimate: 0.6m);
        var third = await h.AdmitAsync(estimate: 0.6m);
        Assert.Equal(AdmissionKind.Allowed, first.Kind);
        Assert.Equal(AdmissionKind.Allowed, second.Kind);
        Assert.Equal(AdmissionKind.Blocked, third.Kind);
        Assert.Equal(1.2m, third.BlockingCounter.Reserved);

        // Settling replaces estimates by actual cost and frees the headroom.
        await h.Guard.SettleAsync(first, TokenUsage.Zero, 0.1m);
        await h.Guard.SettleAsync(second, TokenUsage.Zero, 0.1m);
        Assert.Equal(AdmissionKind.Allowed, (await h.AdmitAsync(estimate: 0.6m)).Kind);
        Assert.Equal(0.2m, await h.SpentAsync("r"));
    }

    [Fact]
    public async Task Settling_twice_counts_once()
    {
        await using var h = await Harness.StartAsync(this, """
            kind: AiBudget
            metadata: { name: once }
            spec: { limit: { amount: 10, unit: usd, period: day } }
            """);

        var admission = await h.AdmitAsync();
        await h.Guard.SettleAsync(admission, TokenUsage.Zero, 0.25m);
        await h.Guard.SettleAsync(admission, TokenUsage.Zero, 0.25m);
        Assert.Equal(0.25m, await h.SpentAsync("once"));
    }

    [Theory]
    [InlineData("{ namespaces: [ci-payments] }", "ci-payments", "payments", "claude-sonnet-4-5", true)]
    [InlineData("{ namespaces: [ci-payments] }", "ci-search", "payments", "claude-sonnet-4-5", false)]
    [InlineData("{ subjects: [\"team:payments\"] }", "", "payments", "gpt-4o", true)]
    [InlineData("{ subjects: [\"team:pay*\"] }", "", "payments", "gpt-4o", true)]
    [InlineData("{ subjects: [\"team:search\", \"repo:checkout\"] }", "", "payments", "gpt-4o", true)]
    [InlineData("{ subjects: [\"team:search\"] }", "", "payments", "gpt-4o", false)]
    [InlineData("{ models: [\"claude-sonnet-*\"] }", "", "payments", "claude-sonnet-4-5-20250929", true)]
    [InlineData("{ models: [\"claude-sonnet-*\"] }", "", "payments", "claude-haiku-4-5", false)]
    [InlineData("{ metadata: { pipeline: pr-* } }", "", "payments", "gpt-4o", true)]
    [InlineData("{ metadata: { pipeline: nightly } }", "", "payments", "gpt-4o", false)]
    [InlineData("{ namespaceSelector: { matchLabels: { tier: ci } } }", "", "payments", "gpt-4o", true)]
    [InlineData("{ namespaceSelector: { matchExpressions: [ { key: tier, operator: NotIn, values: [ci] } ] } }", "", "payments", "gpt-4o", false)]
    [InlineData("{}", "anything", "x", "y", true)]
    public async Task Match_conditions_select_requests(string match, string ns, string team, string model, bool expected)
    {
        await using var h = await Harness.StartAsync(this, $$"""
            kind: AiBudget
            metadata: { name: m }
            spec: { match: {{match}}, limit: { amount: 1, unit: usd, period: day } }
            """);

        var request = new RequestContext(ns, new Dictionary<string, string> { ["tier"] = "ci" },
            new Dictionary<string, string> { ["team"] = team, ["repo"] = "checkout", ["pipeline"] = "pr-review" }, "anthropic", model);
        Assert.Equal(expected, h.Policy.Matching(request).Count == 1);
    }

    private sealed class Harness : IAsyncDisposable
    {
        private int _sequence;

        private Harness(FakeTimeProvider time, IBudgetLedger ledger, PolicySnapshot policy)
        {
            Time = time;
            Ledger = ledger;
            Policy = policy;
            Guard = new BudgetGuard(ledger, time);
        }

        public FakeTimeProvider Time { get; }

        public IBudgetLedger Ledger { get; }

        public PolicySnapshot Policy { get; }

        public BudgetGuard Guard { get; }

        public static async Task<Harness> StartAsync(BudgetSemanticsSuite suite, string documents, DateTimeOffset? start = null)
        {
            var time = new FakeTimeProvider(start ?? Noon);
            var yaml = string.Join("\n---\n", documents.Split("---").Select(d => "apiVersion: tollgate.io/v1alpha1\n" + d.Trim()));
            var policy = PolicyCompiler.Compile(PolicyLoader.Parse("test.yaml", yaml), "test.yaml");
            return new Harness(time, await suite.CreateLedgerAsync(time), policy);
        }

        public ValueTask<BudgetAdmission> AdmitAsync(string repo = "checkout", decimal estimate = 0.01m) =>
            Guard.AdmitAsync(Policy, Request(repo), $"req-{Interlocked.Increment(ref _sequence)}", new BudgetEstimate(new TokenUsage(10, 10, 0, 0, 0), estimate), CancellationToken.None);

        public async Task<AdmissionKind> SpendAsync(decimal cost, TokenUsage? usage = null, string repo = "checkout")
        {
            var admission = await AdmitAsync(repo);
            await Guard.SettleAsync(admission, usage ?? new TokenUsage(1, 1, 0, 0, 0), cost);
            return admission.Kind;
        }

        public async Task<decimal> SpentAsync(string budget)
        {
            var counters = await Ledger.SnapshotAsync(Time.GetUtcNow(), CancellationToken.None);
            return counters.Where(c => c.Budget == budget).Sum(c => c.Spent);
        }

        public ValueTask DisposeAsync() => Ledger.DisposeAsync();

        private static RequestContext Request(string repo) => new(string.Empty, RequestContext.NoLabels,
            new Dictionary<string, string> { ["team"] = "payments", ["repo"] = repo, ["pipeline"] = "pr-review" }, "anthropic", "claude-sonnet-4-5");
    }
}
