using System.Diagnostics;
using System.Text.Json;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>
/// The official OpenAI and Anthropic SDKs (Node; installed by test.sh into tests/sdk) talking to the real meter:
/// streams still parse after the meter's rewriting, and the 429 contract makes them fail fast without retrying.
/// </summary>
[Trait(MeterProcess.ProcessTrait, "true")]
public sealed class SdkCompatibilityTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string TightBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: sdk-daily }
        spec:
          appliesPer: ["metadata.repo"]
          limit: { amount: 0.000001, unit: usd, period: day }
        """;

    [Fact]
    public async Task OpenAI_sdk_reads_a_stream_whose_injected_usage_chunk_was_removed()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream);
        using var result = await RunAsync(meter, "openai-stream");

        Assert.False(result.RootElement.GetProperty("sawUsage").GetBoolean());
        Assert.NotEmpty(result.RootElement.GetProperty("content").GetString()!);
        Assert.Equal(100, (await meter.ScrapeAsync()).Sum("tollgate_tokens_total", ("type", "input"), ("pipeline", "sdk")));
    }

    [Fact]
    public async Task Anthropic_sdk_stream_usage_matches_what_the_meter_counted()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream);
        using var result = await RunAsync(meter, "anthropic-stream");

        var usage = result.RootElement.GetProperty("usage");
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(usage.GetProperty("input_tokens").GetInt32(), scrape.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(usage.GetProperty("output_tokens").GetInt32(), scrape.Sum("tollgate_tokens_total", ("type", "output")));
    }

    [Theory]
    [InlineData("openai-blocked", "budget_exceeded")]
    [InlineData("anthropic-blocked", "rate_limit_error")]
    public async Task Sdk_fails_fast_on_an_exhausted_budget_and_shows_the_message(string scenario, string type)
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, TightBudget);
        using (await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags())))
        {
        }

        using var result = await RunAsync(meter, scenario);

        Assert.Equal(429, result.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(type, result.RootElement.GetProperty("type").GetString());
        // The Anthropic SDK prints the raw body, so the quotes around the repository arrive JSON-escaped there.
        Assert.Matches(@"Repository \\?""checkout\\?"" has exhausted its daily", result.RootElement.GetProperty("message").GetString());

        // maxRetries is 2: one blocked request means x-should-retry: false was honoured.
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum("tollgate_requests_total", ("outcome", "blocked")));
    }

    [Fact]
    public async Task Anthropic_sdk_parses_a_stream_replayed_from_the_cache()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: cached }
            spec: { cache: { enabled: true, ttlSeconds: 600 } }
            """);
        using var live = await RunAsync(meter, "anthropic-stream");
        using var replayed = await RunAsync(meter, "anthropic-stream");

        Assert.Equal(live.RootElement.GetProperty("text").GetString(), replayed.RootElement.GetProperty("text").GetString());
        Assert.NotEmpty(replayed.RootElement.GetProperty("text").GetString()!);
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum("tollgate_requests_total", ("outcome", "cached")));
    }

    [Theory]
    [InlineData("anthropic-stream", "text")]
    [InlineData("openai-stream", "content")]
    public async Task Sdk_reads_the_fixed_fallback_response_of_an_exhausted_budget(string scenario, string field)
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, TightBudget + """

            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: skip-when-broke }
            spec: { fallback: { onBudgetExceeded: { response: "Skipped: the AI budget of this repository is spent." } } }
            """);
        using (await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags())))
        {
        }

        using var result = await RunAsync(meter, scenario);

        Assert.Equal("Skipped: the AI budget of this repository is spent.", result.RootElement.GetProperty(field).GetString());
    }

    private static async Task<JsonDocument> RunAsync(IMeterUnderTest meter, string scenario)
    {
        var sdk = Path.Combine(Tollgate.TestSupport.RepositoryPaths.Root(), "tests", "sdk");
        Assert.True(Directory.Exists(Path.Combine(sdk, "node_modules", "openai")),
            "the SDKs are not installed: run ./test.sh, or npm ci --prefix tests/sdk");
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = sdk };
        info.ArgumentList.Add("sdk-check.mjs");
        info.ArgumentList.Add(meter.ProxyUri.ToString().TrimEnd('/'));
        info.ArgumentList.Add(scenario);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, $"node exited {process.ExitCode}: {await stdout} {await stderr}");
        return JsonDocument.Parse(await stdout);
    }
}
