using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Tollgate.Core.Events;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

public sealed class UsageExportApiTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    // A midnight a few days back: readers refuse events older than the stream keeps (35 days) or dated ahead of now.
    // Real clock: the exporter under test reads it (its poll loop waits on it), so every date here is relative to it.
    private static readonly DateTimeOffset Day = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(-3);
    private ExporterHarness _exporter = null!;

    public async Task InitializeAsync()
    {
        var address = ExporterHarness.Db(redis, 5);
        await using (var ledger = await ExporterHarness.LedgerAsync(address))
        {
            var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
            await stream.AppendAsync(ExporterHarness.Event("1", Day.AddHours(1), team: "payments", step: "review", input: 1000, output: 100, cost: 0.01m), CancellationToken.None);
            await stream.AppendAsync(ExporterHarness.Event("2", Day.AddHours(2), team: "payments", step: "review", input: 500, output: 50, cost: 0.005m), CancellationToken.None);
            await stream.AppendAsync(ExporterHarness.Event("3", Day.AddHours(3), team: "payments", step: "summarize", model: "claude-haiku-4-5", input: 300, output: 30, cost: 0.001m), CancellationToken.None);
            await stream.AppendAsync(ExporterHarness.Event("4", Day.AddHours(4), team: "search, \"infra\"", step: "review", input: 200, output: 20, cost: 0.002m), CancellationToken.None);
        }

        _exporter = await ExporterHarness.StartAsync(address);
    }

    public async Task DisposeAsync() => await _exporter.DisposeAsync();

    [Fact]
    public async Task Usage_is_grouped_by_tags_and_metadata_keys_as_json()
    {
        using var response = await SendAsync("/api/v1/usage?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&groupBy=team,metadata.agent_step&format=json");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var rows = json.RootElement.GetProperty("rows").EnumerateArray()
            .ToDictionary(r => $"{r.GetProperty("team").GetString()}/{r.GetProperty("metadata.agent_step").GetString()}");
        Assert.Equal(3, rows.Count);
        var review = rows["payments/review"];
        Assert.Equal(2, review.GetProperty("requests").GetInt32());
        Assert.Equal(1500, review.GetProperty("input_tokens").GetInt64());
        Assert.Equal(150, review.GetProperty("output_tokens").GetInt64());
        Assert.Equal(0.015m, review.GetProperty("cost_usd").GetDecimal());
        Assert.Equal(300, rows["payments/summarize"].GetProperty("input_tokens").GetInt64());
    }

    [Fact]
    public async Task Usage_is_exported_as_csv_with_quoted_values()
    {
        using var response = await SendAsync("/api/v1/usage?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&groupBy=team,model&format=csv");
        var lines = (await response.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');

        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("team,model,requests,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd", lines[0]);
        Assert.Contains("payments,claude-sonnet-4-5,2,1500,150,0,0,0,0.015", lines);
        Assert.Contains("payments,claude-haiku-4-5,1,300,30,0,0,0,0.001", lines);
        Assert.Contains("\"search, \"\"infra\"\"\",claude-sonnet-4-5,1,200,20,0,0,0,0.002", lines);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public async Task The_time_range_selects_events_by_their_time()
    {
        using var response = await SendAsync("/api/v1/usage?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&groupBy=&format=json");
        using var all = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(4, all.RootElement.GetProperty("rows")[0].GetProperty("requests").GetInt32());

        using var narrow = await SendAsync($"/api/v1/usage?from={Uri.EscapeDataString(Day.AddHours(1.5).ToString("O"))}&to={Uri.EscapeDataString(Day.AddHours(3.5).ToString("O"))}&format=json");
        using var json = JsonDocument.Parse(await narrow.Content.ReadAsStringAsync());
        Assert.Equal(2, json.RootElement.GetProperty("rows")[0].GetProperty("requests").GetInt32());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-token")]
    public async Task Requests_without_the_token_are_refused(string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/usage?groupBy=team");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await _exporter.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Theory]
    [InlineData("groupBy=branch", "groupBy: unknown field \"branch\" (use namespace, team, repo, pipeline, agent_step, provider, model, outcome or metadata.<key>)")]
    [InlineData("format=xml", "format: must be json or csv (got \"xml\")")]
    [InlineData("from=yesterday", "from: \"yesterday\" is not an ISO 8601 time such as 2026-11-01T00:00:00Z")]
    [InlineData("from=1969-12-31T23:59:59Z", "from: must not be before 1970-01-01T00:00:00Z")]
    [InlineData("from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z", "from: must not be before 1970-01-01T00:00:00Z")]
    [InlineData("to=1960-01-01T00:00:00Z", "to: must not be before 1970-01-01T00:00:00Z")]
    public async Task A_bad_parameter_is_a_400_naming_it(string query, string message)
    {
        using var response = await SendAsync("/api/v1/usage?" + query);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(message, json.RootElement.GetProperty("error").GetString());
        Assert.Equal(message[..message.IndexOf(':', StringComparison.Ordinal)], json.RootElement.GetProperty("parameter").GetString());
    }

    [Theory]
    [InlineData("bearer")]
    [InlineData("BEARER")]
    [InlineData("Bearer")]
    public async Task The_auth_scheme_is_case_insensitive(string scheme)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/usage?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&format=json");
        request.Headers.TryAddWithoutValidation("Authorization", $"{scheme} {ExporterHarness.Token}");

        using var response = await _exporter.Client.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4, json.RootElement.GetProperty("rows")[0].GetProperty("requests").GetInt32());
    }

    [Theory]
    [InlineData("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"")]
    [InlineData("+cmd|calc", "\"'+cmd|calc\"")]
    [InlineData("-2+3", "\"'-2+3\"")]
    [InlineData("@SUM(A1)", "\"'@SUM(A1)\"")]
    [InlineData("\tx", "\"'\tx\"")]
    [InlineData("\rx", "\"'\rx\"")]
    [InlineData("payments", "payments")]
    [InlineData("a=b", "a=b")]
    [InlineData("a,b", "\"a,b\"")]
    public void Csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(string value, string cell) =>
        Assert.Equal(cell, Api.UsageExportEndpoint.Csv(value));

    private async Task<HttpResponseMessage> SendAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ExporterHarness.Token);
        return await _exporter.Client.SendAsync(request);
    }
}
