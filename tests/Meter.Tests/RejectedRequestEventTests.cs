using System.Net;
using Tollgate.Core.Metrics;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Requests the meter refuses before admission publish one usage event each, carrying only the label values the meter
/// itself publishes for them: a refused request's tags and model are whatever the client sent, possibly hostile.
/// </summary>
public sealed class RejectedRequestEventTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    [Fact]
    public async Task A_refused_body_publishes_the_checked_team_and_repo_and_no_model()
    {
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, usageSink: sink);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude; rm -rf /"),
            MeterHarness.Tags(team: "payments", repo: "checkout", pipeline: "pr-review", agentStep: "review")));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var usageEvent = await sink.WaitForAsync(response.Headers.GetValues("x-tollgate-request-id").Single());
        Assert.Equal(RequestOutcomes.Rejected, usageEvent.Outcome);
        Assert.Equal(400, usageEvent.Status);
        Assert.Equal(string.Empty, usageEvent.Model);
        Assert.Equal(new Dictionary<string, string> { ["team"] = "payments", ["repo"] = "checkout" }, usageEvent.Tags);
        Assert.Equal(0, usageEvent.Tokens.Total);
        Assert.Empty(usageEvent.Budgets);
    }

    [Theory]
    [InlineData("not json", "/v1/messages", HttpStatusCode.BadRequest)]
    [InlineData("{\"team\":\"payments\"}", "/v1/messages", HttpStatusCode.BadRequest)]
    [InlineData("{\"team\":\"payments\",\"repo\":\"checkout\",\"pipeline\":\"pr\"}", "/v1/batches", HttpStatusCode.Forbidden)]
    public async Task A_request_refused_before_its_tags_are_checked_or_accepted_publishes_no_tags(string tags, string path, HttpStatusCode status)
    {
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, usageSink: sink);
        using var response = await meter.SendAsync(MeterHarness.Request(path, MeterHarness.AnthropicBody(), tags));

        Assert.Equal(status, response.StatusCode);
        var usageEvent = await sink.WaitForAsync(response.Headers.GetValues("x-tollgate-request-id").Single());
        Assert.Single(sink.Events);
        Assert.Equal(RequestOutcomes.Rejected, usageEvent.Outcome);
        Assert.Equal((int)status, usageEvent.Status);
        Assert.Empty(usageEvent.Tags);
        Assert.Equal(string.Empty, usageEvent.Model);
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum(MetricContract.Requests.Name, ("outcome", RequestOutcomes.Rejected), ("team", "")));
    }

    [Fact]
    public async Task An_oversized_body_is_counted_once_in_the_metrics_and_once_on_the_stream()
    {
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, usageSink: sink, configure: o => o with { MaxRequestBodyBytes = 1024 });
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages",
            MeterHarness.AnthropicBody().Replace("Review this diff.", new string('a', 4096), StringComparison.Ordinal), MeterHarness.Tags(team: "search")));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var usageEvent = await sink.WaitForAsync(response.Headers.GetValues("x-tollgate-request-id").Single());
        Assert.Single(sink.Events);
        Assert.Equal(413, usageEvent.Status);
        Assert.Equal("search", usageEvent.Tags["team"]);
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum(MetricContract.Requests.Name));
        Assert.Equal(1, scrape.Sum(MetricContract.Requests.Name, ("outcome", RequestOutcomes.Rejected), ("team", "search")));
        Assert.Equal(0, scrape.Sum(MetricContract.PromptLatency.Name + "_count"));
    }
}
