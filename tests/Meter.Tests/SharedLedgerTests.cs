using System.Globalization;
using System.Net;
using System.Text.Json;
using Tollgate.Core.Estimation;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;
using Xunit.Abstractions;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Meters sharing one Redis ledger (a real redis-server with an append-only file, so a kill loses nothing, as in
/// production). Each test uses its own Redis database.
/// </summary>
public sealed class SharedLedgerTests(UpstreamFixture fixture, DurableRedisServerFixture durable, ITestOutputHelper output)
    : IClassFixture<UpstreamFixture>, IClassFixture<DurableRedisServerFixture>
{
    private RedisServerFixture Redis => durable.Server;

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Four_meters_share_one_budget_and_count_every_request_once_in_the_stream()
    {
        const int Limit = 60_000;
        const string Policy = """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: shared-daily }
            spec: { limit: { amount: 60000, unit: tokens, period: day } }
            """;
        var address = Redis.Address + "/1";
        var meters = new List<IMeterUnderTest>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                meters.Add(await MeterUnderTest.StartAsync(fixture.Upstream, Policy, configure: o => o with { SpoolPath = o.Ledger + ".spool", Ledger = address }));
            }

            var body = MeterHarness.AnthropicBody(model: "claude-haiku-4-5", maxTokens: 1000);
            var responses = await Task.WhenAll(Enumerable.Range(0, 512).Select(async i =>
            {
                using var response = await meters[i % 4].SendAsync(
                    MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(), ("x-fake-usage", "input=10,output=1000")));
                return (response.StatusCode, Id: response.Headers.GetValues("x-tollgate-request-id").Single());
            }));

            var allowed = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
            var blocked = responses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests);
            Assert.Equal(512, allowed + blocked);

            await using var ledger = await InspectAsync(address);
            var counter = Assert.Single(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
            var estimate = new InputTokenEstimator().Estimate(System.Text.Encoding.UTF8.GetBytes(body), "anthropic") + 1000;
            output.WriteLine($"allowed {allowed}, blocked {blocked}, settled {counter.Spent} of {Limit}, overshoot {counter.Spent - Limit}, one estimate {estimate}");

            Assert.Equal(0m, counter.Reserved);
            Assert.Equal(allowed * 1010m, counter.Spent);
            Assert.True(counter.Spent - Limit <= estimate, $"overshoot {counter.Spent - Limit} exceeds one estimate {estimate}");
            Assert.True(blocked > 0);

            var events = await new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System).ReadAllAsync(CancellationToken.None);
            Assert.Equal(responses.Select(r => r.Id).Order(), events.Select(e => e.RequestId).Order());
            Assert.Equal(allowed, events.Count(e => e.Outcome == "forwarded" && e.Tokens.Total == 1010));
            Assert.Equal(blocked, events.Count(e => e.Outcome == "blocked" && e.Budgets.Single().Decision == BudgetCharges.Blocked));
        }
        finally
        {
            foreach (var meter in meters)
            {
                await meter.DisposeAsync();
            }
        }
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Four_meters_sharing_one_hard_cap_never_settle_above_it()
    {
        const int Limit = 60_000;
        const string Policy = """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: shared-hard }
            spec: { hardCap: true, limit: { amount: 60000, unit: tokens, period: day } }
            """;
        var address = Redis.Address + "/4";
        var meters = new List<IMeterUnderTest>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                meters.Add(await MeterUnderTest.StartAsync(fixture.Upstream, Policy, configure: o => o with { SpoolPath = o.Ledger + ".spool", Ledger = address }));
            }

            // Every request's actual cost (1010 tokens) is within its estimate (the tokenized body plus max_tokens 1000).
            var body = MeterHarness.AnthropicBody(model: "claude-haiku-4-5", maxTokens: 1000);
            var estimate = new InputTokenEstimator().Estimate(System.Text.Encoding.UTF8.GetBytes(body), "anthropic") + 1000;
            Assert.True(estimate >= 1010, $"the estimate {estimate} must cover the actual 1010 tokens for the cap to hold");

            var responses = await Task.WhenAll(Enumerable.Range(0, 512).Select(async i =>
            {
                using var response = await meters[i % 4].SendAsync(
                    MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(), ("x-fake-usage", "input=10,output=1000")));
                var detail = response.StatusCode == HttpStatusCode.TooManyRequests
                    ? JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()
                    : null;
                return (response.StatusCode, Detail: detail);
            }));

            var allowed = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
            var blocked = responses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests);
            Assert.Equal(512, allowed + blocked);

            await using var ledger = await InspectAsync(address);
            var counter = Assert.Single(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
            output.WriteLine($"allowed {allowed}, blocked {blocked}, settled {counter.Spent} of {Limit}, one estimate {estimate}");

            Assert.Equal(0m, counter.Reserved);
            Assert.Equal(allowed * 1010m, counter.Spent);
            Assert.True(counter.Spent <= Limit, $"settled {counter.Spent} above the hard cap {Limit}");

            // Admission is by estimate, so at least as many fit as estimates do (more as settled actuals free the difference).
            Assert.InRange(allowed, Limit / estimate, Limit / 1010);
            Assert.Contains(responses, r => r.Detail?.Contains("this request's estimate of", StringComparison.Ordinal) == true);
            Assert.All(responses.Where(r => r.Detail is not null), r => Assert.Matches("would exceed the hard cap|has exhausted", r.Detail));
        }
        finally
        {
            foreach (var meter in meters)
            {
                await meter.DisposeAsync();
            }
        }
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Redis_outage_rejects_closed_budgets_allows_open_ones_and_replays_every_request_exactly_once()
    {
        const string Policy = """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: payments-closed }
            spec: { match: { subjects: ["team:payments"] }, failurePolicy: closed, limit: { amount: 1000000000, unit: tokens, period: month } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: search-open }
            spec: { match: { subjects: ["team:search"] }, failurePolicy: open, limit: { amount: 1000000000, unit: tokens, period: month } }
            """;
        var address = Redis.Address + "/2";
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, Policy, configure: o => o with { SpoolPath = o.Ledger + ".spool", Ledger = address });
        var ids = new List<string>();

        async Task<HttpStatusCode> SendAsync(string team)
        {
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(team: team),
                ("x-fake-usage", "input=100,output=50")));
            ids.Add(response.Headers.GetValues("x-tollgate-request-id").Single());
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.Equal("api_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
                Assert.StartsWith("Budget \"payments-closed\" cannot be checked because the spend ledger is unavailable",
                    error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
            }

            return response.StatusCode;
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await SendAsync("search"));
            Assert.Equal(HttpStatusCode.OK, await SendAsync("payments"));
        }

        await Redis.KillAsync();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await SendAsync("search"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await SendAsync("payments"));
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await meter.Admin.GetAsync("/readyz")).StatusCode);
        // Recorded after the response is sent: wait for the spool to hold all ten, then check it holds exactly ten.
        await EventuallyAsync(async () => (await meter.ScrapeAsync()).Sum("tollgate_usage_spooled_records") >= 10, "ten spooled records");
        Assert.Equal(10, (await meter.ScrapeAsync()).Sum("tollgate_usage_spooled_records"));

        await Redis.RestartAsync();
        await EventuallyAsync(async () => (await meter.ScrapeAsync()).Sum("tollgate_usage_spooled_records") == 0
            && (await meter.Admin.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "the spool drains once Redis is back");
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await SendAsync("search"));
            Assert.Equal(HttpStatusCode.OK, await SendAsync("payments"));
        }

        await using var ledger = await InspectAsync(address);
        var events = await new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System).ReadAllAsync(CancellationToken.None);
        Assert.Equal(ids.Order(), events.Select(e => e.RequestId).Order());
        Assert.Equal(5, events.Count(e => e.Outcome == "rejected" && e.Budgets.Single().Decision == BudgetCharges.Unavailable));
        Assert.Equal(5, events.Count(e => e.Budgets.SingleOrDefault()?.Decision == BudgetCharges.Unchecked));

        // To the token: every forwarded request billed 150 tokens.
        var counters = await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(12 * 150m, counters.Single(c => c.Budget == "search-open").Spent);
        Assert.Equal(7 * 150m, counters.Single(c => c.Budget == "payments-closed").Spent);
        Assert.All(counters, c => Assert.Equal(0m, c.Reserved));
        Assert.Equal(10, (await meter.ScrapeAsync()).Sum("tollgate_usage_replayed_total"));
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Meter_started_during_a_redis_outage_serves_by_failure_policy_and_replays_its_spool_when_redis_returns()
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-outage-start-").FullName;
        await Redis.KillAsync();
        try
        {
            var policy = Path.Combine(directory, "budgets.yaml");
            await File.WriteAllTextAsync(policy, """
                apiVersion: tollgate.io/v1alpha1
                kind: AiBudget
                metadata: { name: payments-closed }
                spec: { match: { subjects: ["team:payments"] }, failurePolicy: closed, limit: { amount: 1000000000, unit: tokens, period: month } }
                ---
                apiVersion: tollgate.io/v1alpha1
                kind: AiBudget
                metadata: { name: search-open }
                spec: { match: { subjects: ["team:search"] }, failurePolicy: open, limit: { amount: 1000000000, unit: tokens, period: month } }
                """);
            var address = Redis.Address + "/5";
            var (proxy, adminPort) = (LocalMachine.FreeLoopbackPort(), LocalMachine.FreeLoopbackPort());

            // The injected sidecar's shape: a Redis ledger, a spool on its own volume, the admin port the probes use.
            await using var meter = MeterProcess.Start(MeterHarness.MeterKeyEnvironment, "--policy", policy, "--ledger", address, "--spool", Path.Combine(directory, "spool", "usage.spool"),
                "--listen", $"127.0.0.1:{proxy}", "--admin-listen", $"127.0.0.1:{adminPort}", "--upstream", $"anthropic={fixture.Upstream.BaseUri}");
            using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}"), Timeout = TimeSpan.FromSeconds(2) };
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy}") };
            await EventuallyAsync(async () => await StatusAsync(admin, "/startupz") == HttpStatusCode.OK, "the startup probe passes with Redis down");
            using (var readiness = await admin.GetAsync("/readyz"))
            {
                Assert.Equal((HttpStatusCode.ServiceUnavailable, "ledger redis cannot record spend\n"), (readiness.StatusCode, await readiness.Content.ReadAsStringAsync()));
            }

            async Task<HttpStatusCode> SendAsync(string team)
            {
                using var response = await client.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(team: team),
                    ("x-fake-usage", "input=100,output=50")));
                return response.StatusCode;
            }

            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(HttpStatusCode.OK, await SendAsync("search"));
                Assert.Equal(HttpStatusCode.ServiceUnavailable, await SendAsync("payments"));
            }

            // One record per request: the three allowed carry their spend, and all six their usage event (refusals are recorded too).
            Assert.Equal(6, SpooledRecords(await admin.GetStringAsync("/metrics")));

            await Redis.RestartAsync();
            await EventuallyAsync(async () => SpooledRecords(await admin.GetStringAsync("/metrics")) == 0 && await StatusAsync(admin, "/readyz") == HttpStatusCode.OK,
                "the spool replays once Redis is back");
            Assert.Equal(HttpStatusCode.OK, await SendAsync("payments"));

            await using var ledger = await InspectAsync(address);
            var counters = await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None);
            Assert.Equal(3 * 150m, counters.Single(c => c.Budget == "search-open").Spent);
            Assert.Equal(150m, counters.Single(c => c.Budget == "payments-closed").Spent);
            Assert.All(counters, c => Assert.Equal(0m, c.Reserved));
        }
        finally
        {
            if (!Redis.IsRunning)
            {
                await Redis.RestartAsync();
            }

            Directory.Delete(directory, recursive: true);
        }

        static async Task<HttpStatusCode> StatusAsync(HttpClient admin, string path)
        {
            try
            {
                using var response = await admin.GetAsync(path);
                return response.StatusCode;
            }
            catch (HttpRequestException)
            {
                return 0; // not listening yet
            }
        }

        static int SpooledRecords(string metrics) =>
            (int)double.Parse(System.Text.RegularExpressions.Regex.Match(metrics, @"(?m)^tollgate_usage_spooled_records(?:\{[^}]*\})? (\S+)$").Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Meter_killed_mid_stream_leaves_its_reservation_to_be_charged_never_leaked()
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-shared-").FullName;
        try
        {
            var policy = Path.Combine(directory, "budgets.yaml");
            await File.WriteAllTextAsync(policy, """
                apiVersion: tollgate.io/v1alpha1
                kind: AiBudget
                metadata: { name: crash-safe }
                spec: { limit: { amount: 1000000, unit: tokens, period: day } }
                """);
            var address = Redis.Address + "/3";
            var (proxy, admin) = (LocalMachine.FreeLoopbackPort(), LocalMachine.FreeLoopbackPort());
            await using (var meter = MeterProcess.Start(MeterHarness.MeterKeyEnvironment, "--policy", policy, "--ledger", address, "--spool", Path.Combine(directory, "usage.spool"),
                "--listen", $"127.0.0.1:{proxy}", "--admin-listen", $"127.0.0.1:{admin}", "--upstream", $"anthropic={fixture.Upstream.BaseUri}"))
            {
                await meter.WaitUntilReadyAsync(new Uri($"http://127.0.0.1:{admin}"));
                using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy}") };
                using var streaming = await client.SendAsync(
                    MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true, maxTokens: 500), MeterHarness.Tags(), ("x-fake-chunks", "100"), ("x-fake-chunk-delay-ms", "50")),
                    HttpCompletionOption.ResponseHeadersRead);
                await using var body = await streaming.Content.ReadAsStreamAsync();
                Assert.True(await body.ReadAsync(new byte[64]) > 0);
                meter.Kill();
            }

            await using var ledger = await InspectAsync(address);
            var held = Assert.Single(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
            Assert.Equal(0m, held.Spent);
            Assert.InRange(held.Reserved, 501m, 700m);

            // Any meter's reclaim timer does this once the lease (10 minutes) has run out.
            Assert.Equal(1, await ledger.ReclaimExpiredAsync(DateTimeOffset.UtcNow + ledger.Options.LeaseDuration + TimeSpan.FromSeconds(1), CancellationToken.None));
            var charged = Assert.Single(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
            Assert.Equal((held.Reserved, 0m), (charged.Spent, charged.Reserved));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // Real clock, like the meters (real processes among them) whose counters and events it reads: nothing here is on a fixed day.
    private static async Task<OwnedRedisLedger> InspectAsync(string address) =>
        await OwnedRedisLedger.ConnectAsync(RedisLedgerOptions.FromUrl(address) with { OperationTimeout = TimeSpan.FromSeconds(5) }, TimeProvider.System, CancellationToken.None);

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(200);
        }
    }
}
