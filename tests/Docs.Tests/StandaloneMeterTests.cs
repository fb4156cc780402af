using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Docs.Tests.Markdown;
using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>The standalone meter as the README starts it, and what the README says a client sees from it.</summary>
public sealed class StandaloneMeterTests(StandaloneMeterFixture meter) : IClassFixture<StandaloneMeterFixture>
{
    [Fact]
    public async Task Standalone_meter_with_the_samples_serves_on_its_ports_and_journals_under_dot_tollgate()
    {
        using var admin = new HttpClient { BaseAddress = meter.Admin };
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/readyz")).StatusCode);

        // No key from the client: "Provider keys stay with the meter".
        using var response = await meter.Client.SendAsync(Llm.Messages(Llm.Tags("payments", "checkout", "nightly-tests")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, meter.Upstream.Requests[^1].ApiKey);

        var scrape = new MetricsScrape(await admin.GetStringAsync("/metrics"));
        Assert.True(scrape.Sum("tollgate_requests_total", ("team", "payments"), ("repo", "checkout"), ("outcome", "forwarded")) >= 1, scrape.Text);

        // "Embedded ledger": the journal is .tollgate/ledger.jsonl in the meter's data directory, and nothing else lands in the clone.
        Assert.True(File.Exists(meter.Workspace.File(".tollgate/ledger.jsonl")), string.Join(", ", meter.Workspace.Created()));
        Assert.All(meter.Workspace.Created(), p => Assert.StartsWith(".tollgate", p, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Claude_code_environment_reaches_the_meter_with_its_tags()
    {
        var block = Repo.Block("README.md", "## Point your tools at it", "export ANTHROPIC_BASE_URL=http://127.0.0.1:8787");

        // The two export lines run in a real bash exactly as written (only the port is the meter's free one), so quoting
        // mistakes in the README show up here; the shell then prints what Claude Code would read.
        var exports = string.Join("; ", block.Commands.Where(c => c.StartsWith("export ", StringComparison.Ordinal)));
        var script = new ShellCommand(exports + """; printf '%s\n%s\n' "$ANTHROPIC_BASE_URL" "$ANTHROPIC_CUSTOM_HEADERS" """.TrimEnd())
            .Rewrite("http://127.0.0.1:8787", meter.Proxy.ToString().TrimEnd('/'));
        var (code, shell) = await ShellProcess.RunAsync(script, meter.Workspace.Path);
        Assert.Equal(0, code);
        var baseUrl = shell.StandardOutputLines[0];
        var headerLine = shell.StandardOutputLines[1];
        var colon = headerLine.IndexOf(':', StringComparison.Ordinal);
        Assert.Equal("X-Tollgate-Metadata", headerLine[..colon]);

        // What `claude -p` sends: a Messages request to $ANTHROPIC_BASE_URL with the custom header.
        using var client = new HttpClient { BaseAddress = new Uri(baseUrl) };
        using var response = await client.SendAsync(Llm.Messages(headerLine[(colon + 1)..].Trim()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        using var admin = new HttpClient { BaseAddress = meter.Admin };
        var scrape = new MetricsScrape(await admin.GetStringAsync("/metrics"));
        Assert.True(scrape.Sum("tollgate_tokens_total", ("team", "payments"), ("repo", "checkout"), ("pipeline", "pr-review"), ("agent_step", "review")) > 0, scrape.Text);
    }

    [Fact]
    public async Task Spent_sample_budget_answers_the_documented_429_bodies()
    {
        // transaction-service-daily ($50 a day per repo, team payments-platform, Sonnet and Opus): one call reported at
        // 4M Sonnet output tokens ($60) spends it; the next call of that repo is refused.
        var tags = Llm.Tags("payments-platform", "transaction-service", "pr-review");
        using (var spend = await meter.Client.SendAsync(Llm.Messages(tags, fakeUsage: "input=10,output=4000000")))
        {
            Assert.Equal(HttpStatusCode.OK, spend.StatusCode);
        }

        // Claude Code prints "API Error: 429 <body>" for an Anthropic request.
        using var anthropic = await meter.Client.SendAsync(Llm.Messages(tags));
        Assert.Equal((HttpStatusCode)429, anthropic.StatusCode);
        AssertContractHeaders(anthropic);
        var claudeLine = MarkdownBlocks.CommandBlocks(Repo.Root).Single(b => b.FirstLine.StartsWith("API Error: 429 ", StringComparison.Ordinal)).FirstLine;
        AssertSameBody(JsonNode.Parse(claudeLine["API Error: 429 ".Length..])!, JsonNode.Parse(await anthropic.Content.ReadAsStringAsync())!);

        // The OpenAI wire shape of the same refusal: the README's JSON example under the sample policy.
        using var openAi = await meter.Client.SendAsync(Llm.ChatCompletions(tags, "claude-sonnet-4-5"));
        Assert.Equal((HttpStatusCode)429, openAi.StatusCode);
        AssertContractHeaders(openAi);
        var example = MarkdownBlocks.Example(Repo.Root, "README.md", "## A sample policy, walked through", "json", "{ \"error\": { \"type\": \"budget_exceeded\"");
        AssertSameBody(JsonNode.Parse(string.Join('\n', example.Lines))!, JsonNode.Parse(await openAi.Content.ReadAsStringAsync())!);
    }

    [Fact]
    public async Task Meter_refusals_have_the_documented_bodies()
    {
        // Tagging: a header with only "team" lacks repo and pipeline.
        using var missing = await meter.Client.SendAsync(Llm.ChatCompletions("""{"team":"payments"}""", "gpt-4o"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        var missingExample = JsonNode.Parse(string.Join('\n', MarkdownBlocks.Example(Repo.Root, "README.md", "## Tagging", "json", "{ \"error\"").Lines))!;
        var missingBody = JsonNode.Parse(await missing.Content.ReadAsStringAsync())!;
        Assert.Superset(JsonShape.Of(missingExample).ToHashSet(), JsonShape.Of(missingBody).ToHashSet());
        Assert.Equal(missingExample["error"]!["type"]!.GetValue<string>(), missingBody["error"]!["type"]!.GetValue<string>());
        Assert.Equal(missingExample["missing"]!.ToJsonString(), missingBody["missing"]!.ToJsonString());
        AssertSameMessageUpToEllipsis(missingExample["error"]!["message"]!.GetValue<string>(), missingBody["error"]!["message"]!.GetValue<string>());

        // Errors a client can see: a refused endpoint, with the request id in the body and the header.
        using var filesRequest = Retarget(Llm.ChatCompletions(Llm.Tags("payments", "checkout", "nightly-tests"), "gpt-4o"), "/v1/files");
        using var files = await meter.Client.SendAsync(filesRequest);
        Assert.Equal(HttpStatusCode.Forbidden, files.StatusCode);
        var refusedExample = JsonNode.Parse(string.Join('\n', MarkdownBlocks.Example(Repo.Root, "README.md", "## Errors a client can see from the meter itself", "json", "{ \"error\"").Lines))!;
        var refusedBody = JsonNode.Parse(await files.Content.ReadAsStringAsync())!;
        Assert.Equal(JsonShape.Of(refusedExample), JsonShape.Of(refusedBody));
        foreach (var field in new[] { "method", "path" })
        {
            Assert.Equal(refusedExample[field]!.GetValue<string>(), refusedBody[field]!.GetValue<string>());
        }

        Assert.Equal("endpoint_not_metered", refusedBody["error"]!["type"]!.GetValue<string>());
        AssertSameMessageUpToEllipsis(refusedExample["error"]!["message"]!.GetValue<string>(), refusedBody["error"]!["message"]!.GetValue<string>());
        Assert.Equal(files.Headers.GetValues("x-tollgate-request-id").Single(), refusedBody["request_id"]!.GetValue<string>());
    }

    private static HttpRequestMessage Retarget(HttpRequestMessage request, string path)
    {
        request.RequestUri = new Uri(path, UriKind.Relative);
        return request;
    }

    private static void AssertContractHeaders(HttpResponseMessage response)
    {
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After: seconds until the period resets");
    }

    /// <summary>Same fields and values as the README's body; the times in the message are today's, "…" stands for elided text.</summary>
    private static void AssertSameBody(JsonNode documented, JsonNode actual)
    {
        Assert.True(JsonShape.Of(documented).SequenceEqual(JsonShape.Of(actual)),
            $"The README's body has the fields [{string.Join(", ", JsonShape.Of(documented))}]; the meter answered {actual.ToJsonString()}");
        foreach (var path in new[] { "type", "error.type", "error.tollgate_type", "rule_id", "mitigation", "dashboard" })
        {
            var expected = Select(documented, path);
            Assert.Equal(expected, Select(actual, path));
        }

        var message = Select(actual, "error.message")!;
        var pattern = "^" + Regex.Escape(Select(documented, "error.message")!)
            .Replace("14:32", @"\d\d:\d\d", StringComparison.Ordinal)
            .Replace("2026-12-04\\ 00:00", @"\d{4}-\d\d-\d\d\ 00:00", StringComparison.Ordinal) + "$";
        Assert.Matches(pattern, message);
        Assert.Equal(message, Select(actual, "detail"));
    }

    private static string? Select(JsonNode node, string path)
    {
        JsonNode? current = node;
        foreach (var part in path.Split('.'))
        {
            current = current?[part];
        }

        return current?.GetValue<string>();
    }

    private static void AssertSameMessageUpToEllipsis(string documented, string actual)
    {
        var shown = documented.Split('…')[0];
        Assert.StartsWith(shown, actual, StringComparison.Ordinal);
    }
}
