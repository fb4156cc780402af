using Tollgate.Cli.CommandLine;

namespace Tollgate.Cli;

/// <summary>
/// Entry point of <c>tollgate</c>, the offline tools: simulate, backtest, recommend. Exit 0 on success, 1 for a bad
/// file (policy, scenario, usage), 2 for a bad command line, 3 when <c>--strict</c> meets a malformed line; every
/// failure is one line on stderr naming its cause.
/// </summary>
public static class CliProgram
{
    /// <param name="time">The wall clock in production; the tests stand it on their data's day.</param>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken = default) =>
        CliCommandLine.RunAsync(args, output, error, time, cancellationToken);
}
