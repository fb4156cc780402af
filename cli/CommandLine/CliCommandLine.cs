using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Tollgate.Core.Budgets;
using Tollgate.Core.Hosting;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Serialization;
using Tollgate.Core.Tagging;
using Tollgate.Cli.Audit;

namespace Tollgate.Cli.CommandLine;

/// <summary>The offline commands: simulate, backtest and recommend. None of them starts a proxy or listens on a port.</summary>
internal static class CliCommandLine
{
    public static readonly string[] Names = ["simulate", "backtest", "recommend"];

    private static readonly Option<string> Scenario = new("--scenario") { Description = "Scenario YAML (see config/scenarios/ci-review-agent.yaml).", Required = true };
    private static readonly Option<int> Seed = new("--seed") { Description = "Random seed: the same seed gives the same file.", DefaultValueFactory = _ => 1 };
    private static readonly Option<string> Out = new("--out") { Description = "Usage events JSONL file to write.", Required = true };
    private static readonly Option<int?> Days = new("--days") { Description = "Days to generate (default: the scenario's)." };
    private static readonly Option<string> Policy = new("--policy") { Description = "AiBudget/AiRoutingRule YAML file or folder.", Required = true };
    private static readonly Option<string> Usage = new("--usage") { Description = "Usage events: file.jsonl, per-event file.csv, or redis://host:port[/db].", Required = true };
    private static readonly Option<string?> From = new("--from") { Description = "Replay events at or after this time (ISO 8601)." };
    private static readonly Option<string?> To = new("--to") { Description = "Replay events before this time (ISO 8601)." };
    private static readonly Option<bool> Json = new("--json") { Description = "Write the report as JSON." };
    private static readonly Option<bool> Strict = new("--strict") { Description = "Exit non-zero on the first malformed line instead of skipping it." };
    private static readonly Option<string?> Pricing = new("--pricing") { Description = "Pricing catalog YAML replacing the embedded one." };
    private static readonly Option<string> By = new("--by") { Description = "Scope of each proposed budget: team, repo or pipeline.", Required = true };
    private static readonly Option<string> Period = new("--period") { Description = "day, week or month.", DefaultValueFactory = _ => "week" };
    private static readonly Option<string> Headroom = new("--headroom") { Description = "Cap relative to the average, e.g. -20% (below) or 10%.", DefaultValueFactory = _ => "-20%" };

    public static RootCommand Command { get; } = Build();

    /// <param name="time">The clock recorded history is read against: nothing may be dated ahead of it.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken)
    {
        var result = Command.Parse(args);
        if (ProgramExit.AsksForHelp(args))
        {
            return await result.InvokeAsync(cancellationToken: cancellationToken);
        }

        // The command the line named, when it named one, so the error line says which command it concerns.
        var named = result.CommandResult.Command != Command;
        var name = named ? $"tollgate {result.CommandResult.Command.Name}" : "tollgate";
        if (result.Errors.Count > 0)
        {
            // Without a known command the parser's first complaint is "Required command was not provided", even when
            // the line's first word was a misspelt command: name that word instead.
            var problem = named ? result.Errors[0].Message
                : args.Length == 0 ? "expected a command: simulate, backtest or recommend (each with --help)"
                : $"\"{args[0]}\" is not a command; expected simulate, backtest or recommend (each with --help)";
            await error.WriteLineAsync($"{name}: {problem}");
            return ProgramExit.Usage;
        }

        try
        {
            var pricing = result.GetValue(Pricing) is { } pricingPath ? PricingCatalog.LoadFile(pricingPath) : PricingCatalog.LoadEmbedded();
            return result.CommandResult.Command.Name switch
            {
                "simulate" => await SimulateAsync(result, pricing, output, cancellationToken),
                "backtest" => await BacktestAsync(result, pricing, output, error, time, cancellationToken),
                _ => await RecommendAsync(result, pricing, output, error, time, cancellationToken),
            };
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync($"{name}: {ex.Message}");
            return ProgramExit.Usage;
        }
        catch (DocumentException ex)
        {
            await error.WriteLineAsync($"{name}: {ex.Message}");
            return ProgramExit.Configuration;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"{name}: {ex.Message}");
            return ProgramExit.Configuration;
        }
    }

    private static async Task<int> SimulateAsync(ParseResult result, PricingCatalog pricing, TextWriter output, CancellationToken cancellationToken)
    {
        var scenario = Audit.Scenario.Load(result.GetValue(Scenario)!);
        if (result.GetValue(Days) is <= 0)
        {
            throw new UsageException("--days: must be positive");
        }

        var path = result.GetValue(Out)!;
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        var count = await new Simulator(scenario, pricing, result.GetValue(Seed)).WriteAsync(file, result.GetValue(Days), cancellationToken);
        await output.WriteLineAsync($"tollgate simulate: wrote {count.ToString(CultureInfo.InvariantCulture)} usage events to {path}");
        return 0;
    }

    private static async Task<int> BacktestAsync(ParseResult result, PricingCatalog pricing, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken)
    {
        var policy = PolicyLoader.LoadSnapshot(result.GetValue(Policy)!);
        var (from, to) = (Time(result, From), Time(result, To));
        var strict = result.GetValue(Strict);
        var malformed = new List<MalformedLine>();
        var source = Source(result, pricing, malformed, time);
        var backtester = new Backtester(policy, pricing);
        var progress = new Progress(error, "backtest", source);
        await foreach (var e in source.ReadAsync(from, to, cancellationToken))
        {
            if (strict && malformed.Count > 0)
            {
                break;
            }

            await backtester.ReplayAsync(e, cancellationToken);
            progress.Tick(backtester.Events);
        }

        if (await ReportMalformedAsync(malformed, strict, "backtest", error))
        {
            return ExitMalformed;
        }

        var report = backtester.Report(source.Location, malformed, 0);
        if (result.GetValue(Json))
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(report, ReportJson));
        }
        else
        {
            BacktestTable.Write(report, Console(output));
        }

        return 0;
    }

    private static async Task<int> RecommendAsync(ParseResult result, PricingCatalog pricing, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken)
    {
        var by = result.GetValue(By)!;
        if (by is not (TagKeys.Team or TagKeys.Repo or TagKeys.Pipeline))
        {
            throw new UsageException($"--by: expected team, repo or pipeline (got \"{by}\")");
        }

        var period = result.GetValue(Period) switch
        {
            "day" => BudgetPeriod.Day,
            "week" => BudgetPeriod.Week,
            "month" => BudgetPeriod.Month,
            var other => throw new UsageException($"--period: expected day, week or month (got \"{other}\")"),
        };
        var headroom = ParseHeadroom(result.GetValue(Headroom)!);
        var strict = result.GetValue(Strict);
        var malformed = new List<MalformedLine>();
        var source = Source(result, pricing, malformed, time);
        var recommender = new Recommender(by, period, headroom);
        var progress = new Progress(error, "recommend", source);
        await foreach (var e in source.ReadAsync(Time(result, From), Time(result, To), cancellationToken))
        {
            if (strict && malformed.Count > 0)
            {
                break;
            }

            recommender.Add(e);
            progress.Tick(recommender.Events);
        }

        if (await ReportMalformedAsync(malformed, strict, "recommend", error))
        {
            return ExitMalformed;
        }

        var recommendations = recommender.Recommend();
        if (result.GetValue(Json))
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(recommendations, ReportJson));
        }
        else
        {
            await output.WriteAsync(recommender.ToYaml(recommendations, source.Location));
        }

        return 0;
    }

    /// <summary>Exit code when --strict meets a malformed line.</summary>
    public const int ExitMalformed = 3;

    private static readonly JsonSerializerOptions ReportJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    internal static decimal ParseHeadroom(string text)
    {
        var percent = text.EndsWith('%');
        if (!decimal.TryParse(percent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw new UsageException($"--headroom: expected a percentage such as -20% (got \"{text}\")");
        }

        var fraction = percent || Math.Abs(value) > 1 ? value / 100 : value;
        return fraction <= -1 ? throw new UsageException($"--headroom: {text} leaves no budget") : fraction;
    }

    private static UsageSource Source(ParseResult result, PricingCatalog pricing, List<MalformedLine> malformed, TimeProvider time)
    {
        var location = result.GetValue(Usage)!;
        if (!UsageSource.IsRedis(location) && !File.Exists(location))
        {
            // A file that is not there is a bad input file, like a bad policy (exit 1), not a mistyped flag (exit 2).
            throw new FileNotFoundException($"--usage: {location} does not exist");
        }

        return new UsageSource(location, pricing, malformed.Add, time);
    }

    private static async Task<bool> ReportMalformedAsync(List<MalformedLine> malformed, bool strict, string name, TextWriter error)
    {
        foreach (var line in malformed.Take(strict ? 1 : 10))
        {
            await error.WriteLineAsync($"tollgate {name}: line {line.Line.ToString(CultureInfo.InvariantCulture)}: {line.Reason}{(strict ? " (--strict: stopping)" : "; skipped")}");
        }

        if (!strict && malformed.Count > 10)
        {
            await error.WriteLineAsync($"tollgate {name}: {(malformed.Count - 10).ToString(CultureInfo.InvariantCulture)} more malformed lines skipped");
        }

        return strict && malformed.Count > 0;
    }

    private static DateTimeOffset? Time(ParseResult result, Option<string?> option)
    {
        var text = result.GetValue(option);
        if (text is null)
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new UsageException($"{option.Name}: \"{text}\" is not an ISO 8601 time");
    }

    private static IAnsiConsole Console(TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Interactive = InteractionSupport.No });

        // Redirected output has no terminal width; 80 columns would wrap every cell of a ten-column table.
        if (System.Console.IsOutputRedirected || output != System.Console.Out)
        {
            console.Profile.Width = 200;
        }

        return console;
    }

    private static RootCommand Build()
    {
        var root = new RootCommand("Tollgate offline tools: tune budgets from recorded or simulated usage before enforcing them. Each command has --help.");
        var simulate = new Command("simulate", "Generate a synthetic CI workload as usage events (JSONL).") { Scenario, Seed, Out, Days, Pricing };
        var backtest = new Command("backtest", "Replay recorded usage through a policy's budgets and report what would have happened.") { Policy, Usage, From, To, Json, Strict, Pricing };
        var recommend = new Command("recommend", "Propose AiBudget caps from recorded usage.") { Usage, By, Period, Headroom, From, To, Json, Strict, Pricing };
        root.Subcommands.Add(simulate);
        root.Subcommands.Add(backtest);
        root.Subcommands.Add(recommend);
        return root;
    }

    /// <summary>A command-line mistake found after parsing; printed as one line.</summary>
    private sealed class UsageException(string message) : Exception(message);

    /// <summary>A line on stderr every few seconds for long inputs: events so far and how far into the file.</summary>
    private sealed class Progress(TextWriter error, string name, UsageSource source)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _next = 2000;

        public void Tick(long events)
        {
            if ((events & 0xFFFF) != 0 || _clock.ElapsedMilliseconds < _next)
            {
                return;
            }

            _next = _clock.ElapsedMilliseconds + 2000;
            var share = source.Length > 0 ? $", {source.Position * 100 / source.Length}% of the file" : string.Empty;
            error.WriteLine($"tollgate {name}: {events.ToString("N0", CultureInfo.InvariantCulture)} events{share}, {events / Math.Max(0.001, _clock.Elapsed.TotalSeconds):N0}/s");
        }
    }
}
