namespace Tollgate.Docs.Tests.Markdown;

/// <summary>
/// One fenced code block of a Markdown file, with the heading it sits under. Its identity (file, heading, first command
/// line) stays the same when text around it moves, so the classification table does not churn on unrelated edits.
/// </summary>
public sealed record FencedBlock(string File, string Heading, string Language, int Line, IReadOnlyList<string> Lines)
{
    private static readonly HashSet<string> ShellLanguages = new(StringComparer.OrdinalIgnoreCase) { "bash", "sh", "shell", "zsh", "console", "shell-session" };

    /// <summary>
    /// Blocks that may hold something to run: shell languages, and unlabelled blocks (which hold either a command or the
    /// output a command prints, so every one of them must be classified).
    /// </summary>
    public bool MayHoldCommands => Language.Length == 0 || ShellLanguages.Contains(Language);

    /// <summary>
    /// The command lines as a reader would type them: a prompt block (<c>$ …</c>) gives its prompt lines; otherwise every
    /// line that is neither blank nor a comment, with backslash continuations joined.
    /// </summary>
    public IReadOnlyList<string> Commands
    {
        get
        {
            if (Lines.Any(l => l.StartsWith("$ ", StringComparison.Ordinal)))
            {
                return [.. Lines.Where(l => l.StartsWith("$ ", StringComparison.Ordinal)).Select(l => l[2..].Trim())];
            }

            var commands = new List<string>();
            var pending = string.Empty;
            foreach (var raw in Lines)
            {
                var line = raw.Trim();
                if (pending.Length == 0 && (line.Length == 0 || line.StartsWith('#')))
                {
                    continue;
                }

                if (line.EndsWith('\\'))
                {
                    pending += line[..^1].TrimEnd() + " ";
                    continue;
                }

                commands.Add(pending + line);
                pending = string.Empty;
            }

            return commands;
        }
    }

    /// <summary>The first command line, or the first line of an output block.</summary>
    public string FirstLine => Commands is [var first, ..] ? first : string.Empty;

    /// <summary>Lines after a prompt line up to the next prompt: what the README says the command prints.</summary>
    public IReadOnlyList<string> OutputOf(string command)
    {
        var output = new List<string>();
        var inside = false;
        foreach (var line in Lines)
        {
            if (line.StartsWith("$ ", StringComparison.Ordinal))
            {
                inside = line[2..].Trim() == command;
                continue;
            }

            if (inside)
            {
                output.Add(line);
            }
        }

        return output;
    }

    public override string ToString() => $"{File}:{Line} under \"{Heading}\" ({(Language.Length == 0 ? "unlabelled" : Language)}): {FirstLine}";
}
