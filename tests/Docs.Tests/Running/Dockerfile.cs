using System.Text.RegularExpressions;

namespace Tollgate.Docs.Tests.Running;

/// <summary>The stages of the repository's Dockerfile and the shell commands its build stage runs.</summary>
public sealed partial record Dockerfile(IReadOnlyDictionary<string, string> Stages, IReadOnlyList<string> BuildStageCommands)
{
    public static Dockerfile Read(string path)
    {
        // Continuation lines joined, comments dropped: the instructions as Docker reads them.
        var instructions = new List<string>();
        var pending = string.Empty;
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && pending.Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1].Trim() + " ";
                continue;
            }

            instructions.Add(pending + line);
            pending = string.Empty;
        }

        var stages = new Dictionary<string, string>(StringComparer.Ordinal);
        string? stage = null;
        foreach (var instruction in instructions.Where(i => i.Length > 0))
        {
            if (StageStart().Match(instruction) is { Success: true } from)
            {
                stage = from.Groups["name"].Value;
                stages[stage] = string.Empty;
            }

            if (stage is not null)
            {
                stages[stage] += instruction + "\n";
            }
        }

        var commands = stages["build"].Split('\n')
            .Where(i => i.StartsWith("RUN ", StringComparison.Ordinal))
            .SelectMany(i => i[4..].Split("&&", StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .ToList();
        return new Dockerfile(stages, commands);
    }

    [GeneratedRegex(@"^FROM\s+.*\s+AS\s+(?<name>\S+)$", RegexOptions.IgnoreCase)]
    private static partial Regex StageStart();
}
