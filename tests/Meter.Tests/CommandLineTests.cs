using System.Net;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>The meter's command line and process lifecycle, exercised as a real process.</summary>
[Trait(MeterProcess.ProcessTrait, "true")]
public sealed class CommandLineTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-cli-").FullName;

    [Theory]
    [InlineData(new[] { "--frobnicate" }, "tollgate-meter: Unrecognized command or argument '--frobnicate'.")]
    [InlineData(new[] { "--listen", "localhost" }, "tollgate-meter: --listen: expected host:port, e.g. 127.0.0.1:8787 (got \"localhost\")")]
    [InlineData(new[] { "--upstream", "gemini=http://x" }, "tollgate-meter: --upstream: expected anthropic=<url> or openai=<url> (got \"gemini=http://x\")")]
    [InlineData(new[] { "--upstream", "openai=ftp://x" }, "tollgate-meter: --upstream openai: \"ftp://x\" is not an http(s) origin with an optional path prefix")]
    [InlineData(new[] { "--ledger", "redis://cache:abc" }, "tollgate-meter: --ledger: 'redis://cache:abc' is not a valid Redis ledger address: the port 'abc' is not a number from 1 to 65535; expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS.")]
    [InlineData(new[] { "--allow-unmetered", "v1/files" }, "tollgate-meter: --allow-unmetered: expected a path glob such as /v1/files* (got \"v1/files\")")]
    [InlineData(new[] { "--allow-unmetered", "/v1/files%2F*" }, "tollgate-meter: --allow-unmetered: expected a path glob such as /v1/files* (got \"/v1/files%2F*\")")]
    [InlineData(new[] { "--tag", "repo=" + "\u0007bell" }, "tollgate-meter: --tag repo: the value holds control characters")]
    [InlineData(new[] { "--tag", "repo=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef!" }, "tollgate-meter: --tag repo: the value is longer than 256 characters")]
    [InlineData(new[] { "--input-estimate", "guess" }, "tollgate-meter: --input-estimate: expected tokenizer or bytes (got \"guess\")")]
    [InlineData(new[] { "--upstream-ca", "/nonexistent/ca.pem" }, "tollgate-meter: --upstream-ca: \"/nonexistent/ca.pem\" does not exist")]
    [InlineData(new[] { "--upstream-ca", "/" }, "tollgate-meter: --upstream-ca: \"/\" is a directory, not a PEM file")]
    [InlineData(new[] { "--max-label-values", "0" }, "tollgate-meter: --max-label-values: must be positive")]
    public async Task Bad_flag_exits_2_with_one_line_naming_it(string[] args, string expected)
    {
        await using var meter = MeterProcess.Start(args);
        Assert.Equal(2, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(expected, meter.StandardError.Trim());
    }

    [Theory]
    [InlineData("simulate", new[] { "--scenario", "config/scenarios/ci-review-agent.yaml", "--seed", "1", "--out", "usage.jsonl" })]
    [InlineData("backtest", new[] { "--policy", "config/samples", "--usage", "usage.jsonl", "--help" })]
    [InlineData("recommend", new string[0])]
    public async Task Offline_command_exits_2_with_one_line_pointing_at_the_tollgate_command(string command, string[] rest)
    {
        string[] args = [command, .. rest];
        await using var meter = MeterProcess.Start(args);
        Assert.Equal(2, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(
            $"tollgate-meter: \"{args[0]}\" is not a meter command: the offline tools are the tollgate command now (dotnet run --project cli -- {args[0]} ...)",
            meter.StandardError.Trim());
        Assert.Empty(meter.StandardOutput);
    }

    [Fact]
    public async Task Help_describes_the_proxy_and_lists_no_offline_commands()
    {
        await using var meter = MeterProcess.Start("--help");
        Assert.Equal(0, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("--policy", meter.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Commands:", meter.StandardOutput, StringComparison.Ordinal);
        foreach (var moved in new[] { "simulate", "backtest", "recommend" })
        {
            Assert.DoesNotContain(moved, meter.StandardOutput, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Meter_process_logs_one_record_per_line_with_hostile_characters_escaped()
    {
        int proxy = LocalMachine.FreeLoopbackPort(), admin = LocalMachine.FreeLoopbackPort();
        await using var meter = MeterProcess.Start("--listen", $"127.0.0.1:{proxy}", "--admin-listen", $"127.0.0.1:{admin}", "--ledger", "memory",
            "--upstream", $"openai={fixture.Upstream.BaseUri}", "--upstream", $"anthropic={fixture.Upstream.BaseUri}");
        await meter.WaitUntilReadyAsync(new Uri($"http://127.0.0.1:{admin}"));

        // U+2028 and U+2029 end a line in many log viewers; the refused path is logged, so it must arrive escaped.
        var response = await TestSupport.RawHttp.SendAsync(new Uri($"http://127.0.0.1:{proxy}"), "POST", "/v1/%E2%80%A8forged%E2%80%A9line", "{}",
            [("X-Tollgate-Metadata", MeterHarness.Tags())]);
        Assert.Equal(403, response.Status);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!meter.StandardOutput.Contains("Refused POST", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }

        var line = meter.StandardOutput.Split('\n').Single(l => l.Contains("Refused POST", StringComparison.Ordinal));
        Assert.Contains("Refused POST /v1/\\u2028forged\\u2029line: the endpoint is not metered", line, StringComparison.Ordinal);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: Tollgate\.Meter\.Forwarding\.ProxyHandler\[20\] ", line);
        Assert.DoesNotContain('\u2028', meter.StandardOutput);
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

        await using (var first = MeterProcess.Start(MeterHarness.MeterKeyEnvironment, args))
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

        await using var second = MeterProcess.Start(MeterHarness.MeterKeyEnvironment, args);
        await second.WaitUntilReadyAsync(adminUri);
        using var adminClient = new HttpClient();
        var scrape = new MetricsScrape(await adminClient.GetStringAsync(new Uri(adminUri, "/metrics")));

        // 100 settled tokens plus the killed request's reservation: its estimated input and the 500 output tokens it asked for.
        var spent = scrape.Sum("tollgate_budget_spent", ("budget", "crash-safe"));
        Assert.InRange(spent, 100 + 500 + 1, 100 + 500 + 200);
        Assert.Contains("recovered 1 unsettled reservations", second.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("just some text\n", "holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)")]
    [InlineData("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", "holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)")]
    [InlineData("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n", "is not a PEM certificate bundle (")]
    public async Task Unusable_upstream_ca_exits_2_with_one_line_naming_the_file(string content, string reason)
    {
        var bundle = Path.Combine(_directory, "ca.pem");
        await File.WriteAllTextAsync(bundle, content);

        await using var meter = MeterProcess.Start("--upstream-ca", bundle, "--ledger", "memory");

        Assert.Equal(2, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var error = Assert.Single(meter.StandardError.Trim().Split('\n'));
        Assert.StartsWith($"tollgate-meter: --upstream-ca: \"{bundle}\" {reason}", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Meter_process_reaches_an_https_upstream_behind_a_private_ca_over_http2()
    {
        using var authority = TestCertificateAuthority.Create();
        await using var upstream = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true, CertificateAuthority = authority });
        var bundle = authority.WritePem(Path.Combine(_directory, "ca.pem"));
        var origin = upstream.BaseUri.ToString().TrimEnd('/');
        var (proxy, admin) = (LocalMachine.FreeLoopbackPort(), LocalMachine.FreeLoopbackPort());
        var adminUri = new Uri($"http://127.0.0.1:{admin}");

        await using var meter = MeterProcess.Start(MeterHarness.MeterKeyEnvironment,
            "--upstream", $"anthropic={origin}", "--upstream", $"openai={origin}", "--upstream-ca", bundle,
            "--ledger", "memory", "--listen", $"127.0.0.1:{proxy}", "--admin-listen", $"127.0.0.1:{admin}");
        await meter.WaitUntilReadyAsync(adminUri);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy}") };
        using var response = await client.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-fake-usage", "input=50,output=9")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(upstream.Requests);
        Assert.Equal($"localhost:{upstream.BaseUri.Port}", received.Host);
        Assert.Equal("localhost", received.TlsServerName);
        Assert.Equal("HTTP/2", received.Protocol);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, received.ApiKey);
        using var adminClient = new HttpClient();
        var scrape = new MetricsScrape(await adminClient.GetStringAsync(new Uri(adminUri, "/metrics")));
        Assert.Equal(9, scrape.Sum("tollgate_tokens_total", ("type", "output")));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
