using System.Diagnostics;
using System.Net;
using System.Text;

namespace Tollgate.Docs.Tests.Running;

/// <summary>A README command running under bash as a real process, with its output captured line by line.</summary>
public sealed class ShellProcess : IAsyncDisposable
{
    private static readonly string[] ProviderKeyVariables = ["TOLLGATE_ANTHROPIC_API_KEY", "TOLLGATE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"];

    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Seen)> _waiters = [];

    private ShellProcess(Process process, ShellCommand command)
    {
        _process = process;
        Command = command;
        process.OutputDataReceived += (_, e) => Append(_stdout, e.Data, notify: true);
        process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data, notify: false);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public ShellCommand Command { get; }

    public string StandardOutput => Joined(_stdout);

    public string StandardError => Joined(_stderr);

    public IReadOnlyList<string> StandardOutputLines
    {
        get
        {
            lock (_stdout)
            {
                return [.. _stdout];
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts <paramref name="command"/> in <paramref name="workingDirectory"/>. The developer's own provider keys are
    /// removed from the environment, so only the fake provider's keys given in <paramref name="environment"/> are seen.
    /// </summary>
    public static ShellProcess Start(ShellCommand command, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("/bin/bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command.ForBash());
        foreach (var name in ProviderKeyVariables)
        {
            info.Environment.Remove(name);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return new ShellProcess(Process.Start(info) ?? throw new InvalidOperationException($"bash did not start for: {command}"), command);
    }

    /// <summary>Runs <paramref name="command"/> to its end and returns the finished process (its output and exit code).</summary>
    public static async Task<(int ExitCode, ShellProcess Process)> RunAsync(ShellCommand command, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null, int timeoutSeconds = 60)
    {
        var process = Start(command, workingDirectory, environment);
        process.CloseInput();
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(timeoutSeconds));
        return (code, process);
    }

    /// <summary>Ends standard input: how a host that goes away looks to a process reading it.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"`{Command}` did not exit within {timeout.TotalSeconds} s. stdout: {StandardOutput} stderr: {StandardError}");
        }

        _process.WaitForExit(); // drains the output handlers
        return _process.ExitCode;
    }

    /// <summary>Waits until standard output has a line matching <paramref name="match"/>; fails when the process exits first.</summary>
    public async Task<string> WaitForOutputLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_stdout)
        {
            if (_stdout.FirstOrDefault(match) is { } already)
            {
                return already;
            }

            _waiters.Add((match, seen));
        }

        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(seen.Task, exited, Task.Delay(timeout));
        if (first == seen.Task)
        {
            return await seen.Task;
        }

        Assert.Fail($"`{Command}` {(first == exited ? "exited" : "printed nothing matching")} before the expected line. stdout: {StandardOutput} stderr: {StandardError}");
        return string.Empty;
    }

    /// <summary>Polls <paramref name="url"/> until it answers 200: readiness is a state, there is no event to wait on.</summary>
    public async Task WaitUntilOkAsync(Uri url, int timeoutSeconds = 30)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            Assert.False(_process.HasExited, $"`{Command}` exited early. stdout: {StandardOutput} stderr: {StandardError}");
            try
            {
                using var response = await client.GetAsync(url);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Slow to answer while starting.
            }

            await Task.Delay(50);
        }

        Assert.Fail($"{url} did not answer 200 within {timeoutSeconds} s for `{Command}`. stderr: {StandardError}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static string Joined(List<string> lines)
    {
        lock (lines)
        {
            return string.Join('\n', lines);
        }
    }

    private void Append(List<string> lines, string? line, bool notify)
    {
        if (line is null)
        {
            return;
        }

        lock (lines)
        {
            lines.Add(line);
            if (!notify)
            {
                return;
            }

            foreach (var waiter in _waiters.Where(w => w.Match(line)).ToList())
            {
                waiter.Seen.TrySetResult(line);
                _waiters.Remove(waiter);
            }
        }
    }
}
