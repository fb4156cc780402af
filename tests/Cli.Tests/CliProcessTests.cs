using Tollgate.Cli.Tests.Support;
using Tollgate.Core.Policy;

namespace Tollgate.Cli.Tests;

/// <summary>The <c>tollgate</c> executable as a user runs it: help, exit codes, one line per failure, files written.</summary>
public sealed class CliProcessTests : IDisposable
{
    private static readonly string ScenarioPath = Path.Combine(RepositoryPaths.Root(), "config", "scenarios", "ci-review-agent.yaml");
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-cli-").FullName;

    [Fact]
    public async Task Help_lists_the_three_offline_commands_and_exits_0()
    {
        var help = await CliProcess.RunAsync(_directory, "--help");

        Assert.Equal(0, help.ExitCode);
        var commands = help.StandardOutput[help.StandardOutput.IndexOf("Commands:", StringComparison.Ordinal)..]
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).Select(l => l.Split(' ')[0]);
        Assert.Equal(["simulate", "backtest", "recommend"], commands);

        var backtest = await CliProcess.RunAsync(_directory, "backtest", "--help");
        Assert.Equal(0, backtest.ExitCode);
        foreach (var option in new[] { "--policy", "--usage", "--from", "--to", "--json", "--strict", "--pricing" })
        {
            Assert.Contains(option, backtest.StandardOutput, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(new string[0], "tollgate: expected a command: simulate, backtest or recommend (each with --help)")]
    [InlineData(new[] { "backtset", "--policy", "config/samples" }, "tollgate: \"backtset\" is not a command; expected simulate, backtest or recommend (each with --help)")]
    [InlineData(new[] { "backtest", "--usage", "usage.jsonl" }, "tollgate backtest: Option '--policy' is required.")]
    [InlineData(new[] { "simulate", "--scenario", "s.yaml", "--out", "u.jsonl", "--seed", "one" }, "tollgate simulate: Cannot parse argument 'one' for option '--seed' as expected type 'System.Int32'.")]
    [InlineData(new[] { "recommend", "--usage", "usage.jsonl", "--by", "user" }, "tollgate recommend: --by: expected team, repo or pipeline (got \"user\")")]
    [InlineData(new[] { "recommend", "--usage", "usage.jsonl", "--by", "team", "--headroom", "-100%" }, "tollgate recommend: --headroom: -100% leaves no budget")]
    public async Task Command_line_mistakes_exit_2_with_one_line_naming_them(string[] args, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "usage.jsonl"), string.Empty);

        var run = await CliProcess.RunAsync(_directory, args);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(expected, run.StandardError.Trim());
        Assert.Empty(run.StandardOutput);
    }

    [Fact]
    public async Task Bad_input_files_exit_1_with_one_line_naming_them()
    {
        var policy = await CliProcess.RunAsync(_directory, "backtest", "--policy", "nope.yaml", "--usage", "missing.jsonl");
        Assert.Equal(1, policy.ExitCode);
        Assert.Equal("tollgate backtest: nope.yaml: no such policy file or folder", policy.StandardError.Trim());

        var usage = await CliProcess.RunAsync(_directory, "backtest", "--policy", Path.Combine(RepositoryPaths.Root(), "config", "samples"), "--usage", "missing.jsonl");
        Assert.Equal(1, usage.ExitCode);
        Assert.Equal("tollgate backtest: --usage: missing.jsonl does not exist", usage.StandardError.Trim());
    }

    [Fact]
    public async Task Simulate_and_recommend_run_as_a_real_process()
    {
        var usage = Path.Combine(_directory, "usage.jsonl");

        // Real clock (a process reads the machine's): recommend refuses history dated ahead of it, so the week
        // simulated here starts on the Monday three weeks before today rather than on the shipped scenario's fixed day.
        var today = DateTime.UtcNow.Date;
        var monday = today.AddDays(-(((int)today.DayOfWeek + 6) % 7) - 21);
        var scenario = Path.Combine(_directory, "scenario.yaml");
        var shipped = await File.ReadAllTextAsync(ScenarioPath);
        await File.WriteAllTextAsync(scenario, shipped.Replace("start: 2026-11-02T00:00:00Z", $"start: {monday:yyyy-MM-dd}T00:00:00Z", StringComparison.Ordinal));
        Assert.NotEqual(shipped, await File.ReadAllTextAsync(scenario));

        var simulate = await CliProcess.RunAsync(_directory, "simulate", "--scenario", scenario, "--seed", "3", "--days", "7", "--out", usage);
        Assert.True(simulate.ExitCode == 0, simulate.StandardError);
        Assert.StartsWith("tollgate simulate: wrote ", simulate.StandardOutput, StringComparison.Ordinal);
        Assert.EndsWith($" usage events to {usage}", simulate.StandardOutput.Trim(), StringComparison.Ordinal);

        var recommend = await CliProcess.RunAsync(_directory, "recommend", "--usage", usage, "--by", "repo", "--period", "day");
        Assert.True(recommend.ExitCode == 0, recommend.StandardError);
        var proposed = Path.Combine(_directory, "proposed.yaml");
        await File.WriteAllTextAsync(proposed, recommend.StandardOutput);
        Assert.Equal(11, PolicyLoader.LoadSnapshot(proposed).Budgets.Count);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
