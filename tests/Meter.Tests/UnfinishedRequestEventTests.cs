using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Ledger;
using Tollgate.Core.Metrics;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Requests no stage finishes (the ledger refuses an amount, the meter faults, the client leaves before the answer) are
/// counted once and publish one usage event each, under the same outcome, so the exporter counts them as the meter does.
/// </summary>
public sealed class UnfinishedRequestEventTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string Policy = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: daily-tokens }
        spec: { limit: { amount: 1000000, unit: tokens, period: day } }
        """;

    private static readonly DateTimeOffset Afternoon = new(2026, 11, 18, 14, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan SignalTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_amount_the_ledger_refuses_publishes_one_error_event_and_counts_it_once()
    {
        var sink = new RecordingSink();
        await using var meter = await StartAsync(sink, ledger => new GatedLedger(ledger) { Rewrite = charge => charge with { Estimate = -1m } });

        using var response = await meter.SendAsync(Request());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("amount_out_of_range", await ErrorTypeAsync(response));
        await AssertOneEventAsync(meter, sink, RequestId(response), RequestOutcomes.Error, 500);
    }

    [Fact]
    public async Task A_fault_inside_the_meter_publishes_one_error_event_and_counts_it_once()
    {
        var sink = new RecordingSink();
        await using var meter = await StartAsync(sink, ledger => new GatedLedger(ledger)
        {
            BeforeReserve = (_, _, _) => throw new InvalidOperationException("A ledger fault the meter does not expect."),
        });

        using var response = await meter.SendAsync(Request());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("internal_error", await ErrorTypeAsync(response));
        await AssertOneEventAsync(meter, sink, RequestId(response), RequestOutcomes.Error, 500);
    }

    [Fact]
    public async Task A_client_that_leaves_before_the_answer_publishes_one_aborted_event_and_counts_it_once()
    {
        var sink = new RecordingSink();
        var reserving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var meter = await StartAsync(sink, ledger => new GatedLedger(ledger)
        {
            // A ledger that answers only when the request's token gives up, as a stalled Redis would.
            BeforeReserve = async (_, _, cancellationToken) =>
            {
                reserving.TrySetResult();
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            },
        });

        using var leave = new CancellationTokenSource();
        using var request = Request();
        var sending = meter.Client.SendAsync(request, leave.Token);
        await reserving.Task.WaitAsync(SignalTimeout);
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);

        var first = await sink.FirstAsync();
        await AssertOneEventAsync(meter, sink, first.RequestId, RequestOutcomes.Aborted, RequestOutcomes.ClientClosedRequestStatus);
    }

    private static async Task AssertOneEventAsync(MeterHarness meter, RecordingSink sink, string requestId, string outcome, int status)
    {
        var usageEvent = await sink.WaitForAsync(requestId);
        Assert.Single(sink.Events);
        Assert.Equal(outcome, usageEvent.Outcome);
        Assert.Equal(status, usageEvent.Status);

        // The tags and model were checked before the request failed: the event carries them, and nothing was charged.
        Assert.Equal("claude-haiku-4-5", usageEvent.Model);
        Assert.Equal("review", usageEvent.Tags["agent_step"]);
        Assert.Equal(0, usageEvent.Tokens.Total);
        Assert.Equal(0m, usageEvent.CostUsd);
        Assert.Empty(usageEvent.Budgets);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum(MetricContract.Requests.Name));
        Assert.Equal(1, scrape.Sum(MetricContract.Requests.Name, ("outcome", outcome), ("team", "payments"), ("model", "claude-haiku-4-5")));
        Assert.Equal(0, scrape.Sum(MetricContract.PromptLatency.Name + "_count"));
    }

    private async Task<MeterHarness> StartAsync(RecordingSink sink, Func<IBudgetLedger, GatedLedger> gate)
    {
        var clock = new FakeTimeProvider(Afternoon);
        var directory = Directory.CreateTempSubdirectory("tollgate-unfinished-").FullName;
        var ledger = gate(EmbeddedLedger.Open(Path.Combine(directory, "ledger.jsonl"), clock));
        return await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: directory, time: clock, ledger: ledger, usageSink: sink);
    }

    private static HttpRequestMessage Request() =>
        MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-haiku-4-5"), MeterHarness.Tags(agentStep: "review"), ("x-fake-usage", "input=5,output=5"));

    private static string RequestId(HttpResponseMessage response) => response.Headers.GetValues("x-tollgate-request-id").Single();

    private static async Task<string?> ErrorTypeAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        return (error.TryGetProperty("tollgate_type", out var tollgate) ? tollgate : error.GetProperty("type")).GetString();
    }
}
