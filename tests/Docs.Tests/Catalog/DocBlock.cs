namespace Tollgate.Docs.Tests.Catalog;

/// <summary>What the test does with one command line of a documented block.</summary>
public abstract record CommandVerdict(string Command);

/// <summary>The command runs here as a real process; <see cref="Test"/> runs it and asserts what the README shows.</summary>
public sealed record RunVerdict(string Command, string Test) : CommandVerdict(Command);

/// <summary>
/// The command cannot run here (<see cref="Reason"/>); <see cref="Equivalent"/> is the offline command or check that runs
/// instead, in <see cref="Test"/>.
/// </summary>
public sealed record SkipVerdict(string Command, string Reason, string Equivalent, string Test) : CommandVerdict(Command);

/// <summary>
/// A documented block, identified by file, heading and first command line. A block either holds commands, each with its
/// verdict, or is the output another command prints (<see cref="OutputOf"/>), asserted by <see cref="OutputTest"/>.
/// </summary>
public sealed record DocBlock(string File, string Heading, string FirstLine, IReadOnlyList<CommandVerdict> Commands, string? OutputOf = null, string? OutputTest = null)
{
    public string Identity => $"{File} | {Heading} | {FirstLine}";

    public bool IsOutput => OutputOf is not null;
}
