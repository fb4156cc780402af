using Tollgate.TestSupport;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Issue 12, defect 3, end to end through the meter on both ledgers: a request with an absurd <c>max_tokens</c> must
/// reserve what the model can produce, so a spent budget stays closed while it is in flight and after the process
/// holding it dies. Before the fix, Int64.MaxValue wrapped the estimate negative: 30 of 30 requests passed a spent budget
/// while it was in flight, 40 of 40 after a restart (spent stored as -9.2e18), and Redis answered an empty 500.
/// </summary>
public sealed class ReservationOverflowTests(UpstreamFixture fixture, RedisServerFixture redis)
    : IClassFixture<UpstreamFixture>, IClassFixture<RedisServerFixture>
{
    private const string Policy = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: daily-tokens }
        spec: { limit: { amount: 1000, unit: tokens, period: day } }
        """;

    // Claude Haiku 4.5 produces at most 64,000 output tokens; 4,096 is the meter's default when a request sets no cap.
    private const long HaikuMaxOutput = 64_000;
    private const long DefaultOutput = 4096;

    private static readonly DateTimeOffset Afternoon = new(2026, 11, 18, 14, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan SignalTimeout = TimeSpan.FromSeconds(30);

    public static TheoryData<string, string, long> HugeMaxTokens
    {
        get
        {
            var data = new TheoryData<string, string, long>();
            foreach (var ledger in new[] { "embedded", "redis" })
            {
                data.Add(ledger, "9223372036854775807", HaikuMaxOutput);
                data.Add(ledger, "9007199254740992", HaikuMaxOutput);
                data.Add(ledger, "4611686018427387904", HaikuMaxOutput);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(HugeMaxTokens))]
    public async Task Spent_budget_stays_closed_while_a_huge_max_tokens_request_is_in_flight_and_after_its_meter_dies(
        string ledgerKind, string maxTokens, long reservedOutput)
    {
        var clock = new FakeTimeProvider(Afternoon);
        var directory = Directory.CreateTempSubdirectory("tollgate-overflow-").FullName;
        var prefix = $"tollgate:{{overflow-{Guid.NewGuid():N}}}:";
        var gated = new GatedLedger(await OpenAsync(ledgerKind, directory, prefix, clock)) { HoldFirst = true };
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: directory, time: clock, ledger: gated);

        var body = $$"""{"model":"claude-haiku-4-5","max_tokens":{{maxTokens}},"messages":[{"role":"user","content":"Review this diff."}]}""";
        var huge = meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(), ("x-fake-usage", "input=12,output=30")));
        if (await Task.WhenAny(gated.Held, huge).WaitAsync(SignalTimeout) == huge)
        {
            using var early = await huge;
            Assert.Fail($"The request was answered without a reservation: {(int)early.StatusCode} \"{await early.Content.ReadAsStringAsync()}\"");
        }

        var held = Assert.Single(await gated.Held);

        // The reservation is the input estimate (at most a token per byte) plus the model's cap, or the default.
        Assert.InRange(held.Estimate - reservedOutput, 1m, Encoding.UTF8.GetByteCount(body));
        var counter = Assert.Single(await gated.Inner.SnapshotAsync(Afternoon, CancellationToken.None));
        Assert.Equal(held.Estimate, counter.Reserved);
        Assert.Equal(0m, counter.Spent);

        await AssertClosedAsync(meter, 30);

        // The meter dies with the request in flight. Embedded: its journal, as the kernel holds it, opened by a new meter.
        // Redis: a new meter on the same ledger, which still holds the dead meter's reservation.
        await using (var successor = ledgerKind == "embedded"
            ? await RestartFromJournalCopyAsync(directory, clock)
            : await MeterHarness.StartAsync(fixture.Upstream, Policy, time: clock, ledger: await ConnectRedisAsync(prefix, clock)))
        {
            var after = Assert.Single(await successor.App.Ledger.SnapshotAsync(Afternoon, CancellationToken.None));
            Assert.Equal(held.Estimate, after.Spent + after.Reserved);
            Assert.True(after.Spent >= 0 && after.Reserved >= 0);
            if (successor.App.Ledger is EmbeddedLedger reopened)
            {
                Assert.Equal(1, reopened.RecoveredReservations);
                Assert.Equal(held.Estimate, after.Spent);
            }

            await AssertClosedAsync(successor, 40);
        }

        // Let the held request go (the provider answers it however it answers such a max_tokens) before the meter stops.
        gated.Release();
        (await huge).Dispose();
    }

    [Theory]
    [InlineData("embedded", "-1", "/v1/messages")]
    [InlineData("embedded", "1e27", "/v1/chat/completions")]
    [InlineData("redis", "-9223372036854775807", "/v1/chat/completions")]
    [InlineData("redis", "9007199255", "/v1/messages")]
    public async Task Estimate_the_ledger_cannot_record_answers_a_json_error_and_forwards_nothing(string ledgerKind, string amount, string path)
    {
        var clock = new FakeTimeProvider(Afternoon);
        var directory = Directory.CreateTempSubdirectory("tollgate-overflow-").FullName;
        var estimate = decimal.Parse(amount, NumberStyles.Float, CultureInfo.InvariantCulture);
        var gated = new GatedLedger(await OpenAsync(ledgerKind, directory, $"tollgate:{{refused-{Guid.NewGuid():N}}}:", clock))
        {
            // Stands for a meter fault: no request can produce such an estimate any more.
            Rewrite = charge => charge with { Estimate = estimate },
        };
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: directory, time: clock, ledger: gated);
        var marker = Guid.NewGuid().ToString("N");
        var body = path == "/v1/messages"
            ? $$"""{"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"{{marker}}"}]}"""
            : $$"""{"model":"gpt-4o","messages":[{"role":"user","content":"{{marker}}"}]}""";

        using var response = await meter.SendAsync(MeterHarness.Request(path, body, MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        var requestId = response.Headers.GetValues("x-tollgate-request-id").Single();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        if (path == "/v1/messages")
        {
            Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
            Assert.Equal("api_error", error.GetProperty("type").GetString());
            Assert.Equal("amount_out_of_range", error.GetProperty("tollgate_type").GetString());
        }
        else
        {
            Assert.Equal("amount_out_of_range", error.GetProperty("type").GetString());
        }

        Assert.Contains("\"daily-tokens\"", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("not forwarded", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(requestId, json.RootElement.GetProperty("request_id").GetString());
        Assert.Equal("daily-tokens", json.RootElement.GetProperty("rule_id").GetString());
        Assert.DoesNotContain(fixture.Upstream.Requests, r => r.Body.Contains(marker, StringComparison.Ordinal));
        Assert.Empty(await gated.Inner.SnapshotAsync(Afternoon, CancellationToken.None));
    }

    [Fact]
    public async Task Journal_with_a_wrapped_negative_counter_is_replayed_without_it_and_the_budget_stays_closed()
    {
        // What a meter before the fix left behind: the spend of the day, and a counter line holding a wrapped estimate.
        var clock = new FakeTimeProvider(Afternoon);
        var directory = Directory.CreateTempSubdirectory("tollgate-overflow-").FullName;
        var day = PeriodWindow.Containing(BudgetPeriod.Day, Afternoon);
        string Counter(string spent) => string.Create(CultureInfo.InvariantCulture,
            $$"""{"op":"c","b":"daily-tokens","s":"","ps":{{day.Start.ToUnixTimeSeconds()}},"pe":{{day.End.ToUnixTimeSeconds()}},"spent":{{spent}}}""");
        await File.WriteAllLinesAsync(Path.Combine(directory, "ledger.jsonl"), [Counter("1500"), Counter("-9223372036854775807")]);

        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: directory, time: clock);

        var ledger = Assert.IsType<EmbeddedLedger>(meter.App.Ledger);
        Assert.Equal(1, ledger.SkippedJournalAmounts);
        Assert.Equal(1500, (await meter.ScrapeAsync()).Sum("tollgate_budget_spent", ("budget", "daily-tokens")));
        await AssertClosedAsync(meter, 40);
    }

    private static async Task AssertClosedAsync(MeterHarness meter, int requests)
    {
        for (var i = 0; i < requests; i++)
        {
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-haiku-4-5", maxTokens: 10),
                MeterHarness.Tags(), ("x-fake-usage", "input=5,output=5")));
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal("daily-tokens", response.Headers.GetValues("x-tollgate-budget").Single());
        }
    }

    /// <summary>A new meter on a copy of the journal taken now: every append reached the OS before its call returned, so this is what a crash leaves.</summary>
    private async Task<MeterHarness> RestartFromJournalCopyAsync(string directory, FakeTimeProvider clock)
    {
        var copy = Directory.CreateTempSubdirectory("tollgate-overflow-restart-").FullName;
        var journal = Path.Combine(copy, "ledger.jsonl");
        await using (var source = new FileStream(Path.Combine(directory, "ledger.jsonl"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        await using (var target = File.Create(journal))
        {
            await source.CopyToAsync(target);
        }

        return await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: copy, time: clock, ledger: EmbeddedLedger.Open(journal, clock));
    }

    private async Task<IBudgetLedger> OpenAsync(string kind, string directory, string prefix, TimeProvider clock) =>
        kind == "embedded" ? EmbeddedLedger.Open(Path.Combine(directory, "ledger.jsonl"), clock) : await ConnectRedisAsync(prefix, clock);

    private async Task<OwnedRedisLedger> ConnectRedisAsync(string prefix, TimeProvider clock) =>
        await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with { KeyPrefix = prefix, OperationTimeout = TimeSpan.FromSeconds(5) },
            clock,
            CancellationToken.None);
}
