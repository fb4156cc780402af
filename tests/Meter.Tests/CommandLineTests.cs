using System.Net;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>The meter's command line and process lifecycle, exercised as a real process.</summary>
public sealed class CommandLineTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-cli-").FullName;

    [Theory]
    [InlineData(new[] { "--frobnicate" }, "tollgate-meter: Unrecognized command or argument '--frobnicate'.")]
    [InlineData(new[] { "--listen", "localhost" }, "tollgate-meter: --listen: expected host:port, e.g. 127.0.0.1:8787 (got \"localhost\")")]
    [InlineData(new[] { "--upstream", "gemini=http://x" }, "tollgate-meter: --upstream: expected anthropic=<url> or openai=<url> (got \"gemini=http://x\")")]
    [InlineData(new[] { "--upstream", "openai=ftp://x" }, "tollgate-meter: --upstream openai: \"ftp://x\" is not an http(s) origin with an optional path prefix")]
    [InlineData(new[] { "--ledger", "redis://cache:abc" }, "tollgate-meter: --ledger: 'redis://cache:abc' is not a valid Redis ledger address: the port 'abc' is not a number from 1 to 65535; expected redis://host[:port][/db].")]
    [InlineData(new[] { "--input-estimate", "guess" }, "tollgate-meter: --input-estimate: expected tokenizer or bytes (got \"guess\")")]
    [InlineData(new[] { "--max-label-values", "0" }, "tollgate-meter: --max-label-values: must be positive")]
    public async Task Bad_flag_exits_2_with_one_line_naming_it(string[] args, string expected)
    {
        await using var meter = MeterProcess.Start(args);
        Assert.Equal(2, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(expected, meter.StandardError.Trim());
    }

    [Fact]
    public async Task Bad_policy_file_exits_1_naming_file_document_and_field()
    {
        var policy = Path.Combine(_directory, "budgets.yaml");
        await File.WriteAllTextAsync(policy, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: fine }
            spec: { limit: { amount: 5 } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: broken }
            spec:
              limit: { amount: 5, unit: usd, period: fortnight }
            """);

        await using var meter = MeterProcess.Start("--policy", policy, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--ledger", "memory");
        Assert.Equal(1, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal($"tollgate-meter: {policy}: document 2 (AiBudget \"broken\"): spec.limit.period: must be one of day, week, month (got \"fortnight\") (line 10)",
            meter.StandardError.Trim());
    }

    [Fact]
    public async Task Meter_killed_mid_stream_recovers_the_reservation_on_restart()
    {
        var policy = Path.Combine(_directory, "budgets.yaml");
        var ledger = Path.Combine(_directory, "ledger.jsonl");
        await File.WriteAllTextAsync(policy, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: crash-safe }
            spec: { limit: { amount: 1000000, unit: tokens, period: day } }
            """);
        var (proxy, admin) = (LocalMachine.FreeLoopbackPort(), LocalMachine.FreeLoopbackPort());
        string[] args = ["--policy", policy, "--ledger", ledger, "--listen", $"127.0.0.1:{proxy}", "--admin-listen", $"127.0.0.1:{admin}",
            "--upstream", $"anthropic={fixture.Upstream.BaseUri}", "--upstream", $"openai={fixture.Upstream.BaseUri}"];
        var adminUri = new Uri($"http://127.0.0.1:{admin}");

        await using (var first = MeterProcess.Start(args))
        {
            await first.WaitUntilReadyAsync(adminUri);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy}") };
            using (var done = await client.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-fake-usage", "input=40,output=60"))))
            {
                Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            }

            using var streaming = await client.SendAsync(
                MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true, maxTokens: 500), MeterHarness.Tags(), ("x-fake-chunks", "100"), ("x-fake-chunk-delay-ms", "50")),
                HttpCompletionOption.ResponseHeadersRead);
            await using var body = await streaming.Content.ReadAsStreamAsync();
            Assert.True(await body.ReadAsync(new byte[64]) > 0);
            first.Kill();
        }

        await using var second = MeterProcess.Start(args);
        await second.WaitUntilReadyAsync(adminUri);
        using var adminClient = new HttpClient();
        var scrape = new MetricsScrape(await adminClient.GetStringAsync(new Uri(adminUri, "/metrics")));

        // 100 settled tokens plus the killed request's reservation: its estimated input and the 500 output tokens it asked for.
        var spent = scrape.Sum("tollgate_budget_spent", ("budget", "crash-safe"));
        Assert.InRange(spent, 100 + 500 + 1, 100 + 500 + 200);
        Assert.Contains("recovered 1 unsettled reservations", second.StandardOutput, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
