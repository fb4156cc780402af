using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>
/// The offline simulate → backtest → recommend walk-through with <c>tollgate</c> (cli/), each command run twice: without
/// its <c>[optional]</c> parts and with all of them, as the README writes them.
/// </summary>
/// <remarks>
/// The commands are real processes, so they read recorded history against the machine's clock (an event more than a
/// day ahead of it is refused), while the shipped scenario starts on a fixed Monday. So that the walk-through holds on
/// any day, it runs on a copy of the scenario that starts on the Monday four weeks before this week, and the README's
/// dates move with it; that the documented dates are the shipped scenario's own is checked here, and their replay on a
/// clock standing after them in Cli.Tests (AuditTests).
/// </remarks>
public sealed partial class AuditCommandTests : IDisposable
{
    private const string Heading = "## Backtest, recommend and simulate: tune budgets before enforcing them";
    private const string ShippedScenario = "config/scenarios/ci-review-agent.yaml";
    private const string ShippedStart = "2026-11-02";
    private readonly Workspace _workspace = new();
    private readonly DateTime _start = FourWeeksBeforeThisWeek(DateTime.UtcNow.Date);

    public AuditCommandTests()
    {
        var shipped = File.ReadAllText(Path.Combine(Repo.Root, ShippedScenario));
        var documented = $"start: {ShippedStart}T00:00:00Z";
        Assert.True(shipped.Contains(documented, StringComparison.Ordinal), $"{ShippedScenario} no longer starts on {ShippedStart}, the day the README's --from names");
        File.WriteAllText(_workspace.File("scenario.yaml"), shipped.Replace(documented, $"start: {Day(_start)}T00:00:00Z", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Simulate_backtest_and_recommend_run_as_documented()
    {
        var (simulate, backtest, recommend) = Commands();

        var (code, simulated) = await ShellProcess.RunAsync(simulate.WithoutOptionals(), _workspace.Path);
        Assert.True(code == 0, simulated.StandardError);
        Assert.Matches(@"wrote \d+ usage events to usage\.jsonl", simulated.StandardOutput);
        var bytes = await File.ReadAllBytesAsync(_workspace.File("usage.jsonl"));

        // "--days 28" is the default ("four weeks"), and the same seed writes the same bytes.
        (code, simulated) = await ShellProcess.RunAsync(simulate.WithOptionals(), _workspace.Path);
        Assert.True(code == 0, simulated.StandardError);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(_workspace.File("usage.jsonl")));

        var (backtestCode, table) = await ShellProcess.RunAsync(backtest.WithoutOptionals(), _workspace.Path);
        Assert.True(backtestCode == 0, table.StandardError);
        Assert.Matches($@"^Backtest of usage\.jsonl: [\d,]+ events, {Day(_start)} \d\d:\d\d to {Day(_start.AddDays(27))} \d\d:\d\d UTC$", table.StandardOutputLines[0]);
        Assert.DoesNotContain("malformed", table.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("review-agent-tokens", table.StandardOutput, StringComparison.Ordinal);

        var (jsonCode, json) = await ShellProcess.RunAsync(backtest.WithOptionals(), _workspace.Path);
        Assert.True(jsonCode == 0, json.StandardError);
        var report = JsonNode.Parse(json.StandardOutput)!;
        Assert.Contains("review-agent-tokens", report.ToJsonString(), StringComparison.Ordinal);

        // --from and --to: the first two weeks only.
        Assert.Equal(_start, report["from"]!.GetValue<DateTimeOffset>().UtcDateTime.Date);
        Assert.InRange(report["to"]!.GetValue<DateTimeOffset>().UtcDateTime, _start.AddDays(11), _start.AddDays(14));
        Assert.Equal(0, (long)report["malformed_lines"]!);

        var (recommendCode, recommended) = await ShellProcess.RunAsync(recommend.WithoutOptionals(), _workspace.Path);
        Assert.True(recommendCode == 0, recommended.StandardError);
        var budgets = await File.ReadAllTextAsync(_workspace.File("budgets.yaml"));
        var evidence = Evidence().Matches(budgets);
        Assert.NotEmpty(evidence);
        foreach (Match match in evidence)
        {
            // "Cap: average × 0.8": the default headroom of -20 %, of the unrounded average (so within a cent of the shown one × 0.8).
            var average = decimal.Parse(match.Groups["average"].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
            var cap = decimal.Parse(match.Groups["cap"].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(cap, (average * 0.8m) - 0.01m, (average * 0.8m) + 0.01m);
        }

        Assert.Equal(evidence.Count, Regex.Count(budgets, "^kind: AiBudget$", RegexOptions.Multiline));
        Assert.Equal(evidence.Count, Regex.Count(budgets, "^  enforcement: audit$", RegexOptions.Multiline));

        // "--period week" and "--headroom -20%" are the defaults: the same file.
        (recommendCode, recommended) = await ShellProcess.RunAsync(recommend.WithOptionals(), _workspace.Path);
        Assert.True(recommendCode == 0, recommended.StandardError);
        Assert.Equal(budgets, await File.ReadAllTextAsync(_workspace.File("budgets.yaml")));
    }

    [Fact]
    public async Task Recommended_budgets_load_into_the_meter()
    {
        var (simulate, _, recommend) = Commands();
        Assert.Equal(0, (await ShellProcess.RunAsync(simulate.WithoutOptionals(), _workspace.Path)).ExitCode);
        Assert.Equal(0, (await ShellProcess.RunAsync(recommend.WithoutOptionals(), _workspace.Path)).ExitCode);
        var names = Regex.Matches(await File.ReadAllTextAsync(_workspace.File("budgets.yaml")), @"^  name: (?<name>\S+)$", RegexOptions.Multiline)
            .Select(m => m.Groups["name"].Value).ToList();
        Assert.NotEmpty(names);

        // kubectl apply -f budgets.yaml needs a cluster; the line's own alternative runs instead.
        var apply = Block().Commands[3];
        var alternative = new ShellCommand(apply[(apply.IndexOf("# or: ", StringComparison.Ordinal) + "# or: ".Length)..].Trim());
        Assert.Equal("dotnet run --project meter -- --policy budgets.yaml", alternative.Text);
        string proxy = Llm.FreeEndpoint(), admin = Llm.FreeEndpoint();
        await using var meter = ShellProcess.Start(alternative.Append("--listen", proxy, "--admin-listen", admin), _workspace.Path);
        await meter.WaitUntilOkAsync(new Uri($"http://{admin}/readyz"));
        using var http = new HttpClient();
        var scrape = new MetricsScrape(await http.GetStringAsync(new Uri($"http://{admin}/metrics")));
        Assert.Equal(names.Order(StringComparer.Ordinal), scrape.Values("tollgate_budget_limit", "budget").Order(StringComparer.Ordinal));
    }

    public void Dispose() => _workspace.Dispose();

    private static Markdown.FencedBlock Block() => Repo.Block("README.md", Heading,
        "dotnet run --project cli -- simulate --scenario config/scenarios/ci-review-agent.yaml --seed 1 --out usage.jsonl [--days 28]");

    /// <summary>The README's three commands, on the scenario copy dated from now (see the remarks above).</summary>
    private (ShellCommand Simulate, ShellCommand Backtest, ShellCommand Recommend) Commands()
    {
        var block = Block();
        return (
            new ShellCommand(block.Commands[0]).Rewrite(ShippedScenario, "scenario.yaml"),
            new ShellCommand(block.Commands[1]).Rewrite($"--from {ShippedStart} ", $"--from {Day(_start)} ").Rewrite("--to 2026-11-16", $"--to {Day(_start.AddDays(14))}"),
            new ShellCommand(block.Commands[2]));
    }

    /// <summary>The Monday four weeks before the current week's: the scenario's 28 days then end before today.</summary>
    private static DateTime FourWeeksBeforeThisWeek(DateTime today) => today.AddDays(-(((int)today.DayOfWeek + 6) % 7) - 28);

    private static string Day(DateTime day) => day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^# team ""[^""]+"": \d+ complete weeks; average \$(?<average>[\d,.]+)/week, P95 \$[\d,.]+, max \$[\d,.]+\.\n# Cap: average × 0\.8 = \$(?<cap>[\d,.]+)\.$", RegexOptions.Multiline)]
    private static partial Regex Evidence();
}
