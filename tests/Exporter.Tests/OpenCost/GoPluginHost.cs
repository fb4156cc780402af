using System.Diagnostics;
using System.Text;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Tollgate.Exporter.OpenCost.Protocol;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests.OpenCost;

/// <summary>
/// The host side of HashiCorp go-plugin, as OpenCost runs it: launches <c>exporter opencost-plugin &lt;config&gt;</c> as a
/// real process with the magic cookie in its environment, reads and checks the handshake line, and dials the address it
/// names over gRPC (HTTP/2 cleartext). Disposing closes the plugin's stdin, as a host that goes away does.
/// </summary>
internal sealed class GoPluginHost : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr;

    private GoPluginHost(Process process, StringBuilder stderr, string handshake, GrpcChannel channel)
    {
        _process = process;
        _stderr = stderr;
        Handshake = handshake;
        Channel = channel;
        Health = new Health.HealthClient(channel);
        Costs = new CustomCostsSource.CustomCostsSourceClient(channel);
        Controller = new GRPCController.GRPCControllerClient(channel);

        // A go-plugin host opens the stdio stream as soon as it has connected.
        Stdio = new GRPCStdio.GRPCStdioClient(channel).StreamStdio(new Google.Protobuf.WellKnownTypes.Empty());
    }

    public string Handshake { get; }

    public GrpcChannel Channel { get; }

    public Health.HealthClient Health { get; }

    public CustomCostsSource.CustomCostsSourceClient Costs { get; }

    public GRPCController.GRPCControllerClient Controller { get; }

    public AsyncServerStreamingCall<StdioData> Stdio { get; }

    public Process Process => _process;

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

    /// <summary>
    /// Starts the plugin process; stdout and stderr are left to the caller (for the refusal test). Without
    /// <paramref name="executable"/> it runs <c>dotnet Tollgate.Exporter.dll opencost-plugin &lt;config&gt;</c>; with one, that
    /// file with the config path as its only argument, exactly as OpenCost runs a plugin binary.
    /// </summary>
    public static Process Launch(string configPath, string? cookie, string? executable = null)
    {
        var info = new ProcessStartInfo(executable ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        if (executable is null)
        {
            info.ArgumentList.Add(ExporterDll());
            info.ArgumentList.Add("opencost-plugin");
        }

        info.ArgumentList.Add(configPath);
        info.Environment.Remove("PLUGIN_NAME");
        if (cookie is not null)
        {
            info.Environment["PLUGIN_NAME"] = cookie;
        }

        return Process.Start(info)!;
    }

    public static async Task<GoPluginHost> StartAsync(string configPath, string? executable = null)
    {
        var process = Launch(configPath, "tollgate", executable);
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null)
        {
            await process.WaitForExitAsync(timeout.Token);
            throw new InvalidOperationException($"the plugin exited with {process.ExitCode} before its handshake: {stderr}");
        }

        // go-plugin's handshake: core protocol|app protocol|network|address|protocol.
        var parts = line.Split('|');
        if (parts is not ["1", "1", "tcp", var address, "grpc"] || !address.StartsWith("127.0.0.1:", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException($"not a go-plugin gRPC handshake: '{line}'");
        }

        var channel = GrpcChannel.ForAddress("http://" + address);
        return new GoPluginHost(process, stderr, line, channel);
    }

    /// <summary>Closes stdin and waits for the plugin to exit by itself; returns its exit code.</summary>
    public async Task<int> CloseStdinAndWaitAsync(TimeSpan timeout)
    {
        _process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the plugin did not exit within {timeout.TotalSeconds} s of its stdin closing; stderr:\n{StandardError}");
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Stdio.Dispose();
        Channel.Dispose();
        if (!_process.HasExited)
        {
            try
            {
                await CloseStdinAndWaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        _process.Dispose();
    }

    private static string ExporterDll()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "Tollgate.Exporter.dll");
        return File.Exists(Path.Combine(AppContext.BaseDirectory, "Tollgate.Exporter.runtimeconfig.json"))
            ? beside
            : Path.Combine(RepositoryPaths.Root(), "exporter", "bin", "Release", "net10.0", "Tollgate.Exporter.dll");
    }
}
