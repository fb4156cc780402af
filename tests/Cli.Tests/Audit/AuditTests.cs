using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Cli.Audit;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;

namespace Tollgate.Cli.Tests.Audit;

/// <summary>The offline commands in process, on a clock standing on the test data's day.</summary>
public sealed class AuditTests
{
    private static readonly string ScenarioPath = Path.Combine(RepositoryPaths.Root(), "config", "scenarios", "ci-review-agent.yaml");

    // The commands read recorded history against their clock (nothing may be dated more than a day ahead of it):
    // the clock stands three days after the data, whatever day the tests run on.
    private static readonly DateTimeOffset Recent = new(2026, 11, 17, 9, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Today = Recent.AddDays(3);

    private const string SmallBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: checkout-daily }
        spec:
          priority: 100
          match: { subjects: ["team:payments"] }
          limit: { amount: 2000, unit: tokens, period: day }
          appliesPer: ["metadata.repo"]
          alerts: { thresholds: [50, 100] }
        """;

    [Fact]
    public void Recommend_caps_a_known_series_at_the_average_less_twenty_percent()
    {
        var recommender = new Recommender("team", BudgetPeriod.Day, -0.20m);

        // Mon 2 .. Fri 6 November 2026: payments spends 10, 20, 30, 40, 100 dollars, in two requests a day; search only on Monday.
        decimal[] daily = [10, 20, 30, 40, 100];
        for (var d = 0; d < daily.Length; d++)
        {
            var day = new DateTimeOffset(2026, 11, 2 + d, 0, 0, 0, TimeSpan.Zero);
            recommender.Add(Event(day.AddHours(9), "payments", daily[d] / 2));
            recommender.Add(Event(day.AddHours(15), "payments", daily[d] / 2));
        }

        recommender.Add(Event(new DateTimeOffset(2026, 11, 2, 12, 0, 0, TimeSpan.Zero), "search", 5));

        var caps = recommender.Recommend();
        Assert.Equal(
            [new Recommendation("payments", 5, 40m, 88m, 100m, 32m), new Recommendation("search", 5, 1m, 4m, 5m, 0.8m)],
            caps);

        var yaml = recommender.ToYaml(caps, "series.jsonl");
        var policy = PolicyLoader.Parse("recommended.yaml", yaml);
        var snapshot = PolicyLoader.LoadSnapshot(WriteTemp(yaml, ".yaml"));
        Assert.Equal(2, snapshot.Budgets.Count);
        var payments = snapshot.Budgets.Single(b => b.Name == "team-payments-daily");
        Assert.Equal(32m, payments.Limit);
        Assert.True(payments.Audit);
        Assert.Equal(BudgetPeriod.Day, payments.Period);
        Assert.NotNull(policy);
        Assert.Contains("# team \"payments\": 5 complete days; average $40.00/day, P95 $88.00, max $100.00.", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_writes_the_same_bytes_for_a_seed_and_different_ones_for_another()
    {
        var scenario = Scenario.Load(ScenarioPath);
        var pricing = PricingCatalog.LoadEmbedded();
        var first = await SimulateAsync(scenario, pricing, 7);
        var again = await SimulateAsync(scenario, pricing, 7);
        var other = await SimulateAsync(scenario, pricing, 8);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        var lines = Encoding.UTF8.GetString(first).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var events = lines.Select(line => UsageEventJson.Parse(Encoding.UTF8.GetBytes(line))).ToList();
        Assert.Equal(events.OrderBy(e => e.Time).Select(e => e.RequestId), events.Select(e => e.RequestId));

        // A week of the shipped scenario: 50 engineers × ~15 PRs, each about 400k input tokens over three steps.
        // 750 PRs × 400k = 300M input tokens (cache reads included); retry loops add review-context calls beyond one per PR.
        Assert.InRange(events.Sum(e => e.Tokens.Input + e.Tokens.CacheRead), 270_000_000, 330_000_000);
        Assert.InRange(events.Count(e => e.Tags["agent_step"] == "review-context"), 700, 950);
        Assert.Equal(["review-context", "review-diff", "review-summary"], events.Select(e => e.Tags["agent_step"]).Distinct().Order());

        // A simulated call is one the meter forwarded: the outcome is a documented tollgate_requests_total value.
        Assert.Equal(["forwarded"], events.Select(e => e.Outcome).Distinct());
    }

    [Fact]
    public async Task Shipped_scenario_replays_on_its_own_dates_by_the_clock_the_command_is_given()
    {
        var usage = Path.Combine(Directory.CreateTempSubdirectory("tollgate-audit-").FullName, "usage.jsonl");
        var samples = Path.Combine(RepositoryPaths.Root(), "config", "samples");

        // The scenario's four weeks run from Monday 2026-11-02 to 2026-11-29; the day after, all of it is history.
        var after = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
        var (code, _, stderr) = await RunAtAsync(after, "simulate", "--scenario", ScenarioPath, "--seed", "1", "--out", usage);
        Assert.True(code == 0, stderr);
        var lines = (await File.ReadAllLinesAsync(usage)).Length;

        (code, var stdout, stderr) = await RunAtAsync(after, "backtest", "--policy", samples, "--usage", usage, "--from", "2026-11-02", "--to", "2026-11-16", "--json");
        Assert.True(code == 0, stderr);
        var report = System.Text.Json.Nodes.JsonNode.Parse(stdout)!;
        Assert.Equal(0, (long)report["malformed_lines"]!);
        Assert.InRange((long)report["events"]!, lines / 3, lines - 1);
        Assert.Equal(new DateTime(2026, 11, 2), report["from"]!.GetValue<DateTimeOffset>().UtcDateTime.Date);
        Assert.InRange(report["to"]!.GetValue<DateTimeOffset>(), new DateTimeOffset(2026, 11, 13, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero));

        // A month earlier the same file lies ahead of the clock: every line is refused, so the clock the command is
        // given, not the machine's, is the one history is read against.
        (code, stdout, stderr) = await RunAtAsync(new DateTimeOffset(2026, 10, 1, 12, 0, 0, TimeSpan.Zero), "backtest", "--policy", samples, "--usage", usage, "--json");
        Assert.True(code == 0, stderr);
        report = System.Text.Json.Nodes.JsonNode.Parse(stdout)!;
        Assert.Equal(0, (long)report["events"]!);
        Assert.Equal(lines, (long)report["malformed_lines"]!);
        Assert.StartsWith("tollgate backtest: line 1: usage event: time 2026-11-02", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Malformed_lines_are_reported_by_number_and_skipped_or_fail_with_strict()
    {
        var good = Encoding.UTF8.GetString(UsageEventJson.Serialize(Event(Recent, "payments", 1)));
        var usage = WriteTemp($"{good}\n{{\"v\":1,\"id\":\"x\"}}\nnot json\n{good.Replace("\"id\":\"e-", "\"id\":\"f-", StringComparison.Ordinal)}\n", ".jsonl");
        var policy = WriteTemp(SmallBudget, ".yaml");

        var (code, stdout, stderr) = await RunAsync("backtest", "--policy", policy, "--usage", usage, "--json");
        Assert.Equal(0, code);
        Assert.Contains("line 2: usage event: missing field \"tags\"; skipped", stderr, StringComparison.Ordinal);
        Assert.Contains("line 3: ", stderr, StringComparison.Ordinal);
        Assert.Contains("\"events\": 2", stdout, StringComparison.Ordinal);
        Assert.Contains("\"malformed_lines\": 2", stdout, StringComparison.Ordinal);

        (code, _, stderr) = await RunAsync("backtest", "--policy", policy, "--usage", usage, "--strict");
        Assert.Equal(3, code);
        Assert.Equal("tollgate backtest: line 2: usage event: missing field \"tags\" (--strict: stopping)", stderr.Trim());
    }

    [Fact]
    public async Task Lines_the_exporter_would_refuse_are_reported_and_skipped_like_malformed_ones()
    {
        var good = Encoding.UTF8.GetString(UsageEventJson.Serialize(Event(Recent, "payments", 1)));
        string[] hostile =
        [
            good.Replace("\"cost_usd\":1", "\"cost_usd\":1e30", StringComparison.Ordinal),
            good.Replace("\"input\":1000", "\"input\":-1000", StringComparison.Ordinal),
            good.Replace($"\"time\":\"{Iso(Recent)}\"", $"\"time\":\"{Iso(Recent.AddYears(70))}\"", StringComparison.Ordinal),
            good.Replace("\"team\":\"payments\"", "\"team\":\"\\ud800\"", StringComparison.Ordinal),
        ];
        Assert.All(hostile, line => Assert.NotEqual(good, line));
        var usage = WriteTemp(string.Join('\n', [good, .. hostile, good.Replace("\"id\":\"e-", "\"id\":\"f-", StringComparison.Ordinal)]) + "\n", ".jsonl");
        var policy = WriteTemp(SmallBudget, ".yaml");

        var (code, stdout, stderr) = await RunAsync("backtest", "--policy", policy, "--usage", usage, "--json");

        Assert.Equal(0, code);
        Assert.Contains("line 2: usage event: cost_usd", stderr, StringComparison.Ordinal);
        Assert.Contains("line 3: usage event: tokens.input", stderr, StringComparison.Ordinal);
        Assert.Contains($"line 4: usage event: time {Iso(Recent.AddYears(70))[..10]}", stderr, StringComparison.Ordinal);
        Assert.Contains("line 5: usage event: tags.team", stderr, StringComparison.Ordinal);
        Assert.Contains("\"events\": 2", stdout, StringComparison.Ordinal);
        Assert.Contains("\"malformed_lines\": 4", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Per_event_csv_replays_like_jsonl_and_prices_rows_without_a_cost()
    {
        var csv = WriteTemp(
            $"{UsageSource.CsvHeader}\n{Iso(Recent)},ci,payments,checkout,pr-review,review,openai,gpt-4o,1500,500,0,0,0,\n{Iso(Recent.AddMinutes(5))},ci,payments,checkout,pr-review,review,openai,gpt-4o,100,100,0,0,0,0.5\n",
            ".csv");
        var (code, stdout, _) = await RunAsync("backtest", "--policy", WriteTemp(SmallBudget, ".yaml"), "--usage", csv, "--json");

        Assert.Equal(0, code);
        Assert.Contains("\"spend\": 2000", stdout, StringComparison.Ordinal);
        Assert.Contains("\"peak_used_percent\": 100", stdout, StringComparison.Ordinal);
        var cost = PricingCatalog.LoadEmbedded().Resolve("openai", "gpt-4o").Price.Cost(new TokenUsage(1500, 500, 0, 0, 0));
        Assert.True(cost > 0);
    }

    [Fact]
    public async Task Command_line_errors_exit_non_zero_with_one_line()
    {
        var (code, _, stderr) = await RunAsync("recommend", "--usage", WriteTemp(string.Empty, ".jsonl"), "--by", "user");
        Assert.Equal(2, code);
        Assert.Equal("tollgate recommend: --by: expected team, repo or pipeline (got \"user\")", stderr.Trim());

        (code, _, stderr) = await RunAsync("backtest", "--policy", "nope.yaml", "--usage", "missing.jsonl");
        Assert.NotEqual(0, code);
        Assert.Single(stderr.Trim().Split('\n'));

        // A usage file that is not there is a bad input file (1, as the README says), not a bad flag (2).
        (code, _, stderr) = await RunAsync("backtest", "--policy", WriteTemp(SmallBudget, ".yaml"), "--usage", "missing.jsonl");
        Assert.Equal(1, code);
        Assert.Equal("tollgate backtest: --usage: missing.jsonl does not exist", stderr.Trim());
    }

    [Fact]
    public async Task Backtest_of_a_file_without_events_says_so()
    {
        var (code, stdout, _) = await RunAsync("backtest", "--policy", WriteTemp(SmallBudget, ".yaml"), "--usage", WriteTemp("not json\n", ".jsonl"));
        Assert.Equal(0, code);
        Assert.Contains("no events to replay", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(" to  UTC", stdout, StringComparison.Ordinal);
    }

    private static UsageEvent Event(DateTimeOffset time, string team, decimal cost) =>
        new($"e-{team}-{time.ToUnixTimeSeconds()}", time, "ci", new Dictionary<string, string> { ["team"] = team, ["repo"] = "checkout", ["pipeline"] = "pr-review" },
            "openai", "gpt-4o", false, new TokenUsage(1000, 100, 0, 0, 0), false, cost, 1, null, "ok", 200, []);

    private static async Task<byte[]> SimulateAsync(Scenario scenario, PricingCatalog pricing, int seed)
    {
        using var stream = new MemoryStream();
        await new Simulator(scenario, pricing, seed).WriteAsync(stream, 7, CancellationToken.None);
        return stream.ToArray();
    }

    private static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAtAsync(Today, args);

    private static async Task<(int Code, string Out, string Err)> RunAtAsync(DateTimeOffset now, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliProgram.RunAsync(args, output, error, new FakeTimeProvider(now));
        return (code, output.ToString(), error.ToString());
    }

    private static string Iso(DateTimeOffset time) => time.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string WriteTemp(string text, string extension)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("tollgate-audit-").FullName, "input" + extension);
        File.WriteAllText(path, text);
        return path;
    }
}
