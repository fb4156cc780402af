using System.Diagnostics;

namespace Tollgate.Monitoring.Tests;

/// <summary>What a finished tool run printed (stdout, then stderr) and its exit code.</summary>
internal sealed record ToolResult(string Command, int ExitCode, string Output)
{
    public override string ToString() => $"{Command} exited with {ExitCode}:\n{Output}";
}

/// <summary>
/// The real command-line tools the monitoring configuration is written for. A missing tool fails the test with what to
/// do: these checks are the point of the project, so they are never skipped.
/// </summary>
internal static class Tools
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    public static string Promtool => Require("promtool", "apt-get install prometheus");

    public static string Amtool => Require("amtool", "apt-get install prometheus-alertmanager");

    /// <summary>The Prometheus server (the Debian package that also carries promtool).</summary>
    public static string Prometheus => Require("prometheus", "apt-get install prometheus");

    /// <summary>The Alertmanager server: Debian names it prometheus-alertmanager, upstream alertmanager.</summary>
    public static string Alertmanager =>
        LocalMachine.FindOnPath("prometheus-alertmanager") ?? LocalMachine.FindOnPath("alertmanager") ?? throw Missing("prometheus-alertmanager", "apt-get install prometheus-alertmanager");

    /// <summary><c>kubectl kustomize</c> with a kustomize v5 (<see cref="KustomizeTool"/>).</summary>
    public static Task<ToolResult> KustomizeAsync(string directory) => RunAsync(KustomizeTool.KubectlPath, ["kustomize", directory]);

    public static async Task<ToolResult> RunAsync(string executable, IReadOnlyList<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? RepositoryPaths.Root(),
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var command = $"{Path.GetFileName(executable)} {string.Join(' ', arguments)}";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{command} did not finish within {DefaultTimeout.TotalSeconds} s");
        }

        return new ToolResult(command, process.ExitCode, (await stdout) + (await stderr));
    }


    private static string Require(string name, string install) => LocalMachine.FindOnPath(name) ?? throw Missing(name, install);

    private static InvalidOperationException Missing(string name, string install) =>
        new($"{name} is not on PATH. The monitoring tests run the real {name}: run ./test.sh, which installs it ({install}).");
}
