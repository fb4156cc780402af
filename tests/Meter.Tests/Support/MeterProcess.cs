using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// The meter as a real process, for command-line and crash tests: <c>dotnet Tollgate.Meter.dll …</c> (the JIT build next
/// to the tests), or the natively published binary that <c>TOLLGATE_METER_BINARY</c> names (test.sh runs the tests with
/// <see cref="ProcessTrait"/> a second time that way).
/// </summary>
public sealed class MeterProcess : IAsyncDisposable
{
    /// <summary>The trait of the tests that start the meter as a process: they run again against the native binary.</summary>
    public const string ProcessTrait = "MeterProcess";

    /// <summary>The native meter to run instead of the JIT build, from <c>TOLLGATE_METER_BINARY</c>; null when unset.</summary>
    public static string? NativeBinary { get; } =
        Environment.GetEnvironmentVariable("TOLLGATE_METER_BINARY") is { Length: > 0 } path ? Path.GetFullPath(path) : null;

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private MeterProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts the meter with no provider keys in its environment (whatever the shell running the tests holds).</summary>
    public static MeterProcess Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>Starts the meter with <paramref name="environment"/> added, e.g. <see cref="MeterHarness.MeterKeyEnvironment"/>.</summary>
    public static MeterProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        // A binary that is named but missing must fail the run, not quietly test the JIT build again.
        Assert.True(NativeBinary is null || File.Exists(NativeBinary), $"TOLLGATE_METER_BINARY names no file: {NativeBinary}");
        var info = new ProcessStartInfo(NativeBinary ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };

        // A developer's real keys must never reach a fake provider (or a test's assertion output).
        info.Environment.Remove("TOLLGATE_ANTHROPIC_API_KEY");
        info.Environment.Remove("TOLLGATE_OPENAI_API_KEY");
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        if (NativeBinary is null)
        {
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tollgate.Meter.dll"));
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return new MeterProcess(Process.Start(info)!);
    }

    /// <summary>Runs to exit and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits until the admin port answers <c>/readyz</c>.</summary>
    public Task WaitUntilReadyAsync(Uri admin) => WaitUntilAnswersAsync(admin, "/readyz");

    /// <summary>Waits until the admin port answers <paramref name="probe"/> with 200.</summary>
    public async Task WaitUntilAnswersAsync(Uri admin, string probe)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(_process.HasExited, $"meter exited early: {StandardError}");
            try
            {
                using var response = await client.GetAsync(new Uri(admin, probe));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        Assert.Fail($"meter did not answer {probe} within 30 s: {StandardError}");
    }

    /// <summary>SIGKILL: no shutdown hooks run, exactly like an OOM kill or a node failure.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static void Append(StringBuilder builder, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (builder)
        {
            builder.AppendLine(line);
        }
    }
}
