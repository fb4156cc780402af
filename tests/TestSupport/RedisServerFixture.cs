using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Tollgate.TestSupport;

/// <summary>
/// A real <c>redis-server</c> child process on a free loopback port, without persistence (see <see cref="DurableRedisServerFixture"/>), in a temporary directory.
/// Tests can kill it (SIGKILL, as a crash would) and start it again on the same port.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-redis-").FullName;
    private readonly string _executable;
    private Process? _process;

    public RedisServerFixture()
        : this(durable: false)
    {
    }

    /// <param name="durable">Keep data across a kill: an append-only file synced on every write, like a production Redis with AOF.</param>
    internal RedisServerFixture(bool durable)
    {
        Durable = durable;
        _executable = LocalMachine.FindOnPath("redis-server")
            ?? throw new InvalidOperationException(
                "redis-server is not on PATH. The Redis ledger tests run against a real redis-server: run ./test.sh, which installs it (apt-get install redis-server).");
    }

    public bool Durable { get; }

    public int Port { get; private set; }

    /// <summary>The ledger address, for example <c>redis://127.0.0.1:41234</c>.</summary>
    public string Address => string.Create(CultureInfo.InvariantCulture, $"redis://127.0.0.1:{Port}");

    /// <summary>The endpoint as StackExchange.Redis takes it, for a test's own inspection connection.</summary>
    public string Endpoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public bool IsRunning => _process is { HasExited: false };

    public async Task InitializeAsync()
    {
        // The free port can be taken between probing and binding; another port then does.
        for (var attempt = 1; ; attempt++)
        {
            Port = LocalMachine.FreeLoopbackPort();
            try
            {
                await StartAsync();
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && ReadLog().Contains("Address already in use", StringComparison.Ordinal))
            {
            }
        }
    }

    /// <summary>Kills the server with SIGKILL, as a crash or an OOM kill would, and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        if (_process is null)
        {
            return;
        }

        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>Starts the server again on the same port: empty, or with its data when <see cref="Durable"/>.</summary>
    public async Task RestartAsync()
    {
        await KillAsync();
        await StartAsync();
    }

    /// <summary>Deletes every key of every database.</summary>
    public async Task FlushAsync()
    {
        var reply = await SendAsync("FLUSHALL");
        if (reply != "+OK")
        {
            throw new InvalidOperationException($"FLUSHALL answered {reply}");
        }
    }

    public async Task DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a dying process; the temp directory is cleaned by the OS eventually.
        }
    }

    private async Task StartAsync()
    {
        File.Delete(LogPath);
        var start = new ProcessStartInfo(_executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        foreach (var argument in new[]
        {
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty,
            "--appendonly", Durable ? "yes" : "no", "--appendfsync", "always", "--dir", _directory, "--logfile", LogPath, "--daemonize", "no",
        })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"{_executable} did not start");

        // Nothing is expected on the pipes (the log goes to a file), but they are drained so the server can never block on them.
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                var code = _process.ExitCode;
                _process.Dispose();
                _process = null;
                throw new InvalidOperationException($"redis-server exited with code {code} on port {Port}: {ReadLog()}");
            }

            try
            {
                if (await SendAsync("PING") == "+PONG")
                {
                    return;
                }
            }
            catch (SocketException)
            {
            }
            catch (IOException)
            {
            }

            if (deadline.Elapsed > StartTimeout)
            {
                await KillAsync();
                throw new InvalidOperationException($"redis-server did not answer PING on port {Port} within {StartTimeout.TotalSeconds} s: {ReadLog()}");
            }

            // Polling a process that is starting: there is no event to wait on.
            await Task.Delay(20);
        }
    }

    private string LogPath => Path.Combine(_directory, "redis.log");

    private string ReadLog()
    {
        try
        {
            return File.Exists(LogPath) ? File.ReadAllText(LogPath) : "(no log)";
        }
        catch (IOException ex)
        {
            return $"(log unreadable: {ex.Message})";
        }
    }

    /// <summary>Sends one command in RESP and returns the first line of the reply (for example <c>+OK</c>).</summary>
    private async Task<string> SendAsync(params string[] command)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
        var stream = client.GetStream();
        var request = new StringBuilder().Append(CultureInfo.InvariantCulture, $"*{command.Length}\r\n");
        foreach (var part in command)
        {
            request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(part)}\r\n{part}\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), timeout.Token);
        var reply = new StringBuilder();
        var buffer = new byte[1];
        while (await stream.ReadAsync(buffer, timeout.Token) == 1 && buffer[0] != (byte)'\n')
        {
            if (buffer[0] != (byte)'\r')
            {
                reply.Append((char)buffer[0]);
            }
        }

        return reply.ToString();
    }


}

/// <summary>A <see cref="RedisServerFixture"/> whose data survives a kill and restart (append-only file, fsync always).</summary>
public sealed class DurableRedisServerFixture : IAsyncLifetime
{
    public RedisServerFixture Server { get; } = new(durable: true);

    public Task InitializeAsync() => Server.InitializeAsync();

    public Task DisposeAsync() => Server.DisposeAsync();
}
