using System.Diagnostics;
using System.Text;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>The exporter's command line, run as a real process (<c>dotnet Tollgate.Exporter.dll …</c>).</summary>
public sealed class ExporterCommandLineTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    [Theory]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--max-label-values", "0" }, "tollgate-exporter: --max-label-values: must be positive")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--max-label-values", "-3" }, "tollgate-exporter: --max-label-values: must be positive")]
    [InlineData(new[] { "--listen", "127.0.0.1:0" }, "tollgate-exporter: --ledger: required (redis://host:port[/db])")]
    public async Task Bad_flag_exits_2_with_one_line_naming_it(string[] args, string expected)
    {
        using var process = Start(args, out var stdout, out var stderr);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            Stop(process);
        }

        Assert.Equal(2, process.ExitCode);
        Assert.Equal(expected, stderr.ToString().Trim());
        Assert.Empty(stdout.ToString().Trim());
    }

    [Fact]
    public async Task A_valid_command_line_starts_serving()
    {
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = Start(["--ledger", ExporterHarness.Db(redis, 9), "--listen", "127.0.0.1:0", "--max-label-values", "50"], out var stdout, out var stderr, line =>
        {
            if (line.Contains("Exporter listening on", StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task first;
        try
        {
            first = await Task.WhenAny(listening.Task, process.WaitForExitAsync(timeout.Token));
        }
        finally
        {
            Stop(process);
        }

        Assert.True(first == listening.Task, $"stdout: {stdout}\nstderr: {stderr}");
    }

    private static Process Start(string[] args, out StringBuilder stdout, out StringBuilder stderr, Action<string>? onLine = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = AppContext.BaseDirectory };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tollgate.Exporter.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var output = new StringBuilder();
        var error = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }

                onLine?.Invoke(line);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (error)
                {
                    error.AppendLine(line);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        stdout = output;
        stderr = error;
        return process;
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        // Flushes the asynchronous readers.
        process.WaitForExit();
    }
}
