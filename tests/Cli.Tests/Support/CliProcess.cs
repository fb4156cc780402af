using System.Diagnostics;

namespace Tollgate.Cli.Tests.Support;

/// <summary>
/// <c>tollgate</c> as a real process: <c>dotnet tollgate.dll …</c>, the program <c>dotnet run --project cli --</c> builds
/// and starts, run to its end with its output captured.
/// </summary>
public sealed record CliProcess(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>The built executable, next to this test assembly (the project reference copies it here).</summary>
    public static string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "tollgate.dll");

    public static async Task<CliProcess> RunAsync(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"tollgate {string.Join(' ', args)} did not exit within 60 s. stderr: {await stderr}");
        }

        return new CliProcess(process.ExitCode, await stdout, await stderr);
    }
}
