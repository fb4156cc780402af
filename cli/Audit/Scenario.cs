using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Tollgate.Core.Serialization;

namespace Tollgate.Cli.Audit;

/// <summary>A synthetic CI organisation for <c>meter simulate</c> (format: config/scenarios/ci-review-agent.yaml).</summary>
public sealed record Scenario
{
    public string Namespace { get; init; } = "ci";

    public DateTimeOffset Start { get; init; } = new(2026, 11, 2, 0, 0, 0, TimeSpan.Zero);

    public int Days { get; init; } = 28;

    public IReadOnlyList<ScenarioTeam> Teams { get; init; } = [];

    public double PrsPerEngineerPerWeek { get; init; } = 15;

    public string Pipeline { get; init; } = "pr-review";

    public ScenarioWorkweek Workweek { get; init; } = new();

    public IReadOnlyList<ScenarioStep> Steps { get; init; } = [];

    public ScenarioRetry Retry { get; init; } = new();

    /// <summary>Spread of PR size: each PR's token counts are multiplied by a log-normal factor with this sigma.</summary>
    public double SizeSigma { get; init; } = 0.35;

    public static Scenario Load(string path)
    {
        var text = File.ReadAllText(path);
        var documents = DocumentReader.ParseYaml(path, text);
        if (documents.Count != 1 || documents[0].Root is not JsonNode root)
        {
            throw new DocumentException(new DocumentError(path, null, null, null, null, "expected one YAML document describing the scenario"));
        }

        var scenario = DocumentReader.Bind(path, 0, null, documents[0], root, ScenarioJsonContext.Default.Scenario);
        var problem = scenario.Teams.Count == 0 ? "teams: at least one team is needed"
            : scenario.Steps.Count == 0 ? "steps: at least one agent step is needed"
            : scenario.Days <= 0 ? "days: must be positive"
            : scenario.Teams.FirstOrDefault(t => t.Engineers <= 0 || t.Repos.Count == 0) is { } team ? $"teams: \"{team.Name}\" needs engineers and repos"
            : scenario.Steps.FirstOrDefault(s => s.Calls <= 0 || s.InputTokens <= 0) is { } step ? $"steps: \"{step.Name}\" needs calls and inputTokens"
            : null;
        return problem is null ? scenario : throw new DocumentException(new DocumentError(path, null, null, null, null, problem));
    }
}

public sealed record ScenarioTeam
{
    public string Name { get; init; } = string.Empty;

    public int Engineers { get; init; }

    public IReadOnlyList<string> Repos { get; init; } = [];
}

/// <summary>When PRs are opened: workdays between the hours (UTC), and a fraction of the weekday rate on weekends.</summary>
public sealed record ScenarioWorkweek
{
    public int StartHour { get; init; } = 8;

    public int EndHour { get; init; } = 19;

    public double WeekendFactor { get; init; } = 0.05;
}

/// <summary>One agent step: <see cref="Calls"/> model calls whose input grows by <see cref="InputGrowthPerCall"/> as context accumulates.</summary>
public sealed record ScenarioStep
{
    public string Name { get; init; } = string.Empty;

    public string Provider { get; init; } = "anthropic";

    public string Model { get; init; } = "claude-sonnet-4-5";

    public int Calls { get; init; } = 1;

    public long InputTokens { get; init; }

    public double InputGrowthPerCall { get; init; }

    public long OutputTokens { get; init; } = 1000;

    /// <summary>Share of each call's input served from the prompt cache (the repeated context of earlier calls).</summary>
    public double CacheReadShare { get; init; }
}

/// <summary>A runaway loop: with <see cref="Probability"/> per step, the last call repeats MinLength..MaxLength times, still growing.</summary>
public sealed record ScenarioRetry
{
    public double Probability { get; init; }

    public int MinLength { get; init; } = 2;

    public int MaxLength { get; init; } = 6;
}

/// <summary>The scenario file's binding, with the conventions of <see cref="ModelJson.Strict"/> (as core's own documents).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(Scenario))]
internal sealed partial class ScenarioJsonContext : JsonSerializerContext;
