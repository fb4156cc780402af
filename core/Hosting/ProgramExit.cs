namespace Tollgate.Core.Hosting;

/// <summary>
/// What the meter, the exporter and the operator share at their entry points, so a script or a kubelet reads them
/// alike: exit codes, and when a command line asks for help instead of a run.
/// </summary>
public static class ProgramExit
{
    /// <summary>Ran (or served until asked to stop) without error.</summary>
    public const int Ok = 0;

    /// <summary>The command line was fine but a file or setting it names is not: missing, unreadable or invalid.</summary>
    public const int Configuration = 1;

    /// <summary>The command line itself is wrong: an unknown flag, a missing or malformed value.</summary>
    public const int Usage = 2;

    /// <summary>
    /// Whether the arguments ask for help or the version anywhere (<c>--help</c>, <c>-h</c>, <c>-?</c>, <c>--version</c>):
    /// then the parser's own action prints it and exits 0, even beside arguments that would not parse.
    /// </summary>
    public static bool AsksForHelp(IReadOnlyList<string> args) =>
        args.Any(a => a is "--help" or "-h" or "-?" or "--version");
}
