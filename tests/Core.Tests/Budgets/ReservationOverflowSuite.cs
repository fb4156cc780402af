using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Estimation;
using Tollgate.Core.Ledger;
using Tollgate.Core.Matching;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Budgets;

/// <summary>
/// A request asking for an absurd <c>max_tokens</c> must not open a budget (issue 12, defect 3: Int64.MaxValue wrapped the
/// estimate negative, the embedded ledger then admitted 30 of 30 requests over a spent budget and 40 of 40 after a
/// restart). The path is the meter's: request body, <see cref="RequestShape"/>, <see cref="BudgetEstimate.Reserve"/>,
/// <see cref="BudgetGuard"/>, the ledger. Each ledger gets a subclass.
/// </summary>
public abstract class ReservationOverflowSuite
{
    protected static readonly DateTimeOffset Noon = new(2026, 11, 18, 12, 0, 0, TimeSpan.Zero);

    private const long InputTokens = 20;
    private const long DefaultOutput = 4096;

    // Claude Haiku 4.5: 64,000 output tokens at most (the embedded catalog's maxOutputTokens).
    private const long HaikuCap = 64_000;

    private static readonly PricingCatalog Catalog = PricingCatalog.LoadEmbedded();
    private static readonly PeriodWindow Today = PeriodWindow.Containing(BudgetPeriod.Day, Noon);

    /// <summary>Int64.MaxValue, 2^62 and 2^53 (the largest integer a double holds exactly). 1e30, which no Int64 holds, is refused with 400 before any reservation.</summary>
    public static TheoryData<string, long> HugeMaxTokens => new()
    {
        { "9223372036854775807", HaikuCap },
        { "9007199254740992", HaikuCap },
        { "4611686018427387904", HaikuCap },
    };

    public static TheoryData<string> UnrecordableAmounts => new() { "-0.000001", "-9223372036854775807", "9007199254.740993", "1e27" };

    protected abstract Task<IBudgetLedger> CreateLedgerAsync(FakeTimeProvider time);

    /// <summary>The ledger after the process that held a reservation died: reopened from its journal, or with the dead meter's lease reclaimed.</summary>
    protected abstract Task<IBudgetLedger> AfterCrashAsync(IBudgetLedger crashed, FakeTimeProvider time);

    [Theory]
    [MemberData(nameof(HugeMaxTokens))]
    public async Task Spent_budget_stays_closed_while_a_huge_max_tokens_request_is_in_flight(string maxTokens, long reservedOutput)
    {
        await using var h = await Harness.StartAsync(this);

        var huge = await h.AdmitAsync("huge", maxTokens);

        Assert.Equal(AdmissionKind.Allowed, huge.Kind);
        var reserved = Assert.Single(huge.Charges).Estimate;
        Assert.Equal(InputTokens + reservedOutput, reserved);
        var counter = Assert.Single(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None));
        Assert.Equal(reserved, counter.Reserved);

        // The in-flight reservation holds the whole 1,000-token budget: nothing else gets in until it settles.
        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(AdmissionKind.Blocked, (await h.AdmitAsync($"small-{i}", "10")).Kind);
        }
    }

    [Theory]
    [MemberData(nameof(HugeMaxTokens))]
    public async Task Spent_budget_stays_closed_after_the_process_holding_a_huge_reservation_dies(string maxTokens, long reservedOutput)
    {
        var time = new FakeTimeProvider(Noon);
        var ledger = await CreateLedgerAsync(time);
        var policy = Harness.Policy();
        var huge = await new BudgetGuard(ledger, time).AdmitAsync(policy, Harness.Request, "huge", Harness.Estimate(maxTokens), CancellationToken.None);
        Assert.Equal(AdmissionKind.Allowed, huge.Kind);

        // Never settled: the process died mid-request, so the request is counted at its estimate.
        await using var h = new Harness(time, await AfterCrashAsync(ledger, time), policy);

        var counter = Assert.Single(await h.Ledger.SnapshotAsync(time.GetUtcNow(), CancellationToken.None));
        Assert.Equal(InputTokens + reservedOutput, counter.Spent);
        Assert.Equal(0m, counter.Reserved);
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(AdmissionKind.Blocked, (await h.AdmitAsync($"after-{i}", "10")).Kind);
        }
    }

    [Theory]
    [MemberData(nameof(UnrecordableAmounts))]
    public async Task Unrecordable_estimate_is_refused_and_reserves_nothing(string amount)
    {
        await using var h = await Harness.StartAsync(this);

        var refused = await Assert.ThrowsAsync<LedgerAmountException>(async () =>
            await h.Ledger.ReserveAsync("bad", [Charge("daily", Parse(amount))], CancellationToken.None));

        Assert.Equal("daily", refused.Budget);
        Assert.Equal("estimate", refused.What);
        Assert.Empty(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None));

        // Refusing is not reserving: the id is still free and a sane reservation goes through.
        Assert.True((await h.Ledger.ReserveAsync("bad", [Charge("daily", 5m)], CancellationToken.None)).Allowed);
        Assert.Equal(5m, Assert.Single(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None)).Reserved);
    }

    [Theory]
    [MemberData(nameof(UnrecordableAmounts))]
    public async Task Unrecordable_actual_amount_is_refused_and_the_reservation_stays_held(string amount)
    {
        await using var h = await Harness.StartAsync(this);
        Assert.True((await h.Ledger.ReserveAsync("a", [Charge("daily", 700m)], CancellationToken.None)).Allowed);

        await Assert.ThrowsAsync<LedgerAmountException>(async () =>
            await h.Ledger.SettleAsync("a", [Charge("daily", 700m)], [Parse(amount)], CancellationToken.None));

        var counter = Assert.Single(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None));
        Assert.Equal(0m, counter.Spent);
        Assert.Equal(700m, counter.Reserved);

        await h.Ledger.SettleAsync("a", [Charge("daily", 700m)], [650m], CancellationToken.None);
        counter = Assert.Single(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None));
        Assert.Equal(650m, counter.Spent);
        Assert.Equal(0m, counter.Reserved);
    }

    [Theory]
    [MemberData(nameof(UnrecordableAmounts))]
    public async Task Unrecordable_debit_without_a_reservation_records_nothing(string amount)
    {
        await using var h = await Harness.StartAsync(this);

        await Assert.ThrowsAsync<LedgerAmountException>(async () =>
            await h.Ledger.SettleAsync("spooled", [Charge("daily", 1m), Charge("team", 1m)], [1m, Parse(amount)], CancellationToken.None));

        Assert.Empty(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None));

        // The id was not consumed: the same usage with sane amounts is still recorded.
        await h.Ledger.SettleAsync("spooled", [Charge("daily", 1m), Charge("team", 1m)], [1m, 2m], CancellationToken.None);
        Assert.Equal(3m, (await h.Ledger.SnapshotAsync(Noon, CancellationToken.None)).Sum(c => c.Spent));
    }

    [Fact]
    public async Task Reservations_that_would_pass_the_counter_ceiling_are_refused()
    {
        await using var h = await Harness.StartAsync(this);

        // 512 reservations of the largest amount fill the counter to exactly 2^62 micro-units; an audit charge never blocks.
        var full = new LedgerCharge("audit", "", Today, 1m, LedgerAmounts.Maximum, CanBlock: false);
        for (var i = 0; i < 512; i++)
        {
            Assert.True((await h.Ledger.ReserveAsync($"r{i}", [full], CancellationToken.None)).Allowed);
        }

        var refused = await Assert.ThrowsAsync<LedgerAmountException>(async () =>
            await h.Ledger.ReserveAsync("one-more", [full with { Estimate = 1m }], CancellationToken.None));

        Assert.Equal("audit", refused.Budget);
        Assert.Equal(LedgerAmounts.CounterCeiling, Assert.Single(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None)).Reserved);
    }

    [Fact]
    public async Task Spend_stays_at_the_counter_ceiling_instead_of_wrapping()
    {
        await using var h = await Harness.StartAsync(this);
        var charge = new LedgerCharge("audit", "", Today, 1m, 0m, CanBlock: false);

        for (var i = 0; i < 513; i++)
        {
            await h.Ledger.SettleAsync($"d{i}", [charge], [LedgerAmounts.Maximum], CancellationToken.None);
        }

        Assert.Equal(LedgerAmounts.CounterCeiling, Assert.Single(await h.Ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
        var blocked = await h.Ledger.ReserveAsync("next", [charge with { Limit = LedgerAmounts.Maximum, CanBlock = true }], CancellationToken.None);
        Assert.False(blocked.Allowed);
    }

    private static decimal Parse(string amount) => decimal.Parse(amount, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    private static LedgerCharge Charge(string budget, decimal estimate) => new(budget, "", Today, 1000m, estimate, CanBlock: true);

    private sealed class Harness(FakeTimeProvider time, IBudgetLedger ledger, PolicySnapshot policy) : IAsyncDisposable
    {
        public static readonly RequestContext Request = new(string.Empty, RequestContext.NoLabels,
            new Dictionary<string, string> { ["team"] = "payments", ["repo"] = "checkout", ["pipeline"] = "pr-review" }, "anthropic", "claude-haiku-4-5");

        public IBudgetLedger Ledger => ledger;

        public static async Task<Harness> StartAsync(ReservationOverflowSuite suite)
        {
            var time = new FakeTimeProvider(Noon);
            return new Harness(time, await suite.CreateLedgerAsync(time), Policy());
        }

        public static PolicySnapshot Policy() => PolicyCompiler.Compile(PolicyLoader.Parse("test.yaml", """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: daily-tokens }
            spec: { limit: { amount: 1000, unit: tokens, period: day } }
            """), "test.yaml");

        /// <summary>What the meter reserves for an Anthropic request to Claude Haiku 4.5 with this max_tokens (as raw JSON).</summary>
        public static BudgetEstimate Estimate(string maxTokens)
        {
            var body = Encoding.UTF8.GetBytes($$"""{"model":"claude-haiku-4-5","max_tokens":{{maxTokens}},"messages":[{"role":"user","content":"Review this diff."}]}""");
            var shape = RequestShape.Read(body);
            return BudgetEstimate.Reserve(Catalog.Resolve("anthropic", shape.Model).Price, InputTokens, shape.MaxOutputTokens ?? DefaultOutput);
        }

        public ValueTask<BudgetAdmission> AdmitAsync(string requestId, string maxTokens) =>
            new BudgetGuard(ledger, time).AdmitAsync(policy, Request, requestId, Estimate(maxTokens), CancellationToken.None);

        public ValueTask DisposeAsync() => ledger.DisposeAsync();
    }
}
