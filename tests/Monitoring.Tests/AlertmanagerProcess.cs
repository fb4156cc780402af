using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Tollgate.Monitoring.Tests;

/// <summary>A real Alertmanager on a free loopback port with its own data directory, clustering off.</summary>
internal sealed class AlertmanagerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _log = new();
    private readonly Lock _gate = new();

    private AlertmanagerProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
    }

    public Uri BaseAddress { get; }

    public string Log
    {
        get
        {
            lock (_gate)
            {
                return _log.ToString();
            }
        }
    }

    public static async Task<AlertmanagerProcess> StartAsync(string configFile, params string[] extraArguments)
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-alertmanager-").FullName;
        var port = LocalMachine.FreeLoopbackPort();
        var start = new ProcessStartInfo(Tools.Alertmanager)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        foreach (var argument in (string[])[
            $"--config.file={configFile}", $"--storage.path={directory}",
            string.Create(CultureInfo.InvariantCulture, $"--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=", .. extraArguments])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("alertmanager did not start");
        var alertmanager = new AlertmanagerProcess(process, directory, port);
        process.OutputDataReceived += (_, e) => alertmanager.Append(e.Data);
        process.ErrorDataReceived += (_, e) => alertmanager.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await alertmanager.WaitUntilListeningAsync();
        }
        catch
        {
            await alertmanager.DisposeAsync();
            throw;
        }

        return alertmanager;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the exiting process; the temp directory is cleaned by the OS eventually.
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _log.AppendLine(line);
        }
    }

    // "Listening on" is logged after the configuration was loaded and checked, so every configuration warning is in
    // the log by then; the ready endpoint confirms the API answers.
    private async Task WaitUntilListeningAsync()
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"alertmanager exited with code {_process.ExitCode}:\n{Log}");
            }

            if (Log.Contains("Listening on", StringComparison.Ordinal))
            {
                try
                {
                    using var ready = await client.GetAsync(new Uri("-/ready", UriKind.Relative));
                    if (ready.IsSuccessStatusCode)
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }
            }

            if (clock.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"alertmanager was not ready within {StartTimeout.TotalSeconds} s:\n{Log}");
            }

            // Polling a process that is starting: there is no event to wait on.
            await Task.Delay(50);
        }
    }
}
