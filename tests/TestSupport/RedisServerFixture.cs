using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Xunit;

namespace Tollgate.TestSupport;

/// <summary>
/// A real <c>redis-server</c> child process on a free loopback port, without persistence (see <see cref="DurableRedisServerFixture"/>), in a temporary directory.
/// Tests can kill it (SIGKILL, as a crash would) and start it again on the same port. Secured (see
/// <see cref="SecuredRedisServerFixture"/>), it loads the shipped <c>config/redis/users.acl</c> with a random password per
/// user and, when the build supports it, serves TLS only, with a certificate from a <see cref="TestCertificateAuthority"/>.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-redis-").FullName;
    private readonly string _executable;
    private readonly Dictionary<string, string> _passwords = new(StringComparer.Ordinal);
    private Process? _process;

    public RedisServerFixture()
        : this(durable: false)
    {
    }

    /// <param name="durable">Keep data across a kill: an append-only file synced on every write, like a production Redis with AOF.</param>
    /// <param name="secured">Load the shipped ACL users (the default user off) and serve TLS when the build has it.</param>
    internal RedisServerFixture(bool durable, bool secured = false)
    {
        Durable = durable;
        Secured = secured;
        _executable = LocalMachine.FindOnPath("redis-server")
            ?? throw new InvalidOperationException(
                "redis-server is not on PATH. The Redis ledger tests run against a real redis-server: run ./test.sh, which installs it (apt-get install redis-server).");
    }

    public bool Durable { get; }

    /// <summary>ACL users from <c>config/redis/users.acl</c>; the fixture itself connects as <see cref="AdminUser"/>.</summary>
    public bool Secured { get; }

    /// <summary>True when secured and this <c>redis-server</c> was built with TLS: the server then listens on TLS only.</summary>
    public bool Tls { get; private set; }

    /// <summary>The CA that issued the server's certificate (for <c>127.0.0.1</c> and <c>localhost</c>); null without TLS.</summary>
    public TestCertificateAuthority? CertificateAuthority { get; private set; }

    /// <summary>A user that may do anything, added for the fixture's own commands and tests' inspection; not in the shipped file.</summary>
    public const string AdminUser = "tollgate-test-admin";

    public int Port { get; private set; }

    /// <summary>The ledger address, for example <c>redis://127.0.0.1:41234</c>, or <c>rediss://…</c> when TLS is on; no credentials.</summary>
    public string Address => string.Create(CultureInfo.InvariantCulture, $"{(Tls ? "rediss" : "redis")}://127.0.0.1:{Port}");

    /// <summary>The random password of a user of the shipped ACL file (or <see cref="AdminUser"/>).</summary>
    public string PasswordOf(string user) => _passwords[user];

    /// <summary>Writes a user's password to a file in the fixture's folder, as a mounted Secret would hold it, and returns the path.</summary>
    public string WritePasswordFile(string user)
    {
        var path = Path.Combine(_directory, user + ".password");
        File.WriteAllText(path, PasswordOf(user) + "\n");
        return path;
    }

    /// <summary>The commands and keys the ACL refused since the last <c>ACL LOG RESET</c>, as "user: reason object" lines.</summary>
    public async Task<IReadOnlyList<string>> AclDenialsAsync()
    {
        var options = new StackExchange.Redis.ConfigurationOptions
        {
            User = AdminUser, Password = PasswordOf(AdminUser), Ssl = Tls, SslHost = TestCertificateAuthority.ServerName, AbortOnConnectFail = true,
        };
        options.EndPoints.Add(IPAddress.Loopback, Port);
        if (Tls)
        {
            var authority = CertificateAuthority!.Certificate;
            options.CertificateValidation += (_, certificate, _, _) =>
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                chain.ChainPolicy.CustomTrustStore.Add(authority);
                return certificate is X509Certificate2 leaf && chain.Build(leaf);
            };
        }

        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(options);
        var log = (StackExchange.Redis.RedisResult[])(await connection.GetDatabase().ExecuteAsync("ACL", "LOG"))!;
        return [.. log.Select(entry =>
        {
            var fields = entry.ToDictionary();
            return $"{fields["username"]}: {fields["reason"]} {fields["object"]} ({fields["context"]})";
        })];
    }

    /// <summary>Writes the CA certificate (PEM) for <c>--ledger-ca</c> and returns the path.</summary>
    public string WriteCaFile() =>
        (CertificateAuthority ?? throw new InvalidOperationException("the server has no TLS")).WritePem(Path.Combine(_directory, "ca.pem"));

    /// <summary>The endpoint as StackExchange.Redis takes it, for a test's own inspection connection.</summary>
    public string Endpoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public bool IsRunning => _process is { HasExited: false };

    public async Task InitializeAsync()
    {
        if (Secured)
        {
            PrepareSecurity();
        }

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
        CertificateAuthority?.Dispose();
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
        var port = Port.ToString(CultureInfo.InvariantCulture);
        var arguments = new List<string>
        {
            "--bind", "127.0.0.1", "--save", string.Empty,
            "--appendonly", Durable ? "yes" : "no", "--appendfsync", "always", "--dir", _directory, "--logfile", LogPath, "--daemonize", "no",
        };
        if (Tls)
        {
            // TLS only: no plain-text port at all, as in the cluster. Client certificates are accepted, not required.
            arguments.AddRange(["--port", "0", "--tls-port", port, "--tls-cert-file", Path.Combine(_directory, "server.pem"),
                "--tls-key-file", Path.Combine(_directory, "server.key"), "--tls-ca-cert-file", Path.Combine(_directory, "ca.pem"), "--tls-auth-clients", "optional"]);
        }
        else
        {
            arguments.AddRange(["--port", port]);
        }

        if (Secured)
        {
            arguments.AddRange(["--aclfile", Path.Combine(_directory, "users.acl")]);
        }

        foreach (var argument in arguments)
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
            catch (AuthenticationException)
            {
                // The TLS listener is not up yet.
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

    /// <summary>
    /// Writes the shipped ACL file with each of its users turned on under a random password (appended, as a deployment
    /// does, after the file's own <c>resetpass</c>) plus <see cref="AdminUser"/>, and the TLS files when the build has TLS.
    /// </summary>
    private void PrepareSecurity()
    {
        var lines = new List<string>();
        foreach (var line in File.ReadAllLines(Path.Combine(RepositoryPaths.Root(), "config", "redis", "users.acl")))
        {
            var parts = line.Split(' ', 3);
            if (parts is ["user", var name, ..] && name != "default")
            {
                _passwords[name] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
                lines.Add($"{line} on >{_passwords[name]}");
            }
            else
            {
                lines.Add(line);
            }
        }

        _passwords[AdminUser] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        lines.Add($"user {AdminUser} on >{_passwords[AdminUser]} ~* &* +@all");
        File.WriteAllLines(Path.Combine(_directory, "users.acl"), lines);

        Tls = SupportsTls(_executable);
        if (Tls)
        {
            CertificateAuthority = TestCertificateAuthority.Create();
            CertificateAuthority.WritePem(Path.Combine(_directory, "ca.pem"));
            File.WriteAllText(Path.Combine(_directory, "server.pem"), CertificateAuthority.ServerCertificate.ExportCertificatePem());
            using var key = CertificateAuthority.ServerCertificate.GetECDsaPrivateKey()!;
            File.WriteAllText(Path.Combine(_directory, "server.key"), key.ExportPkcs8PrivateKeyPem());
        }
    }

    /// <summary>
    /// A build without TLS refuses the tls-port directive; one with TLS accepts it and exits for having no port to listen
    /// on. Debian's and Ubuntu's redis-server have TLS.
    /// </summary>
    private static bool SupportsTls(string executable)
    {
        var start = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "--tls-port", "0", "--port", "0" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var all = output.Result + error;
        return !all.Contains("Bad directive", StringComparison.OrdinalIgnoreCase) && !all.Contains("tls-port", StringComparison.OrdinalIgnoreCase);
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

    /// <summary>
    /// Sends one command in RESP (over TLS and after AUTH as <see cref="AdminUser"/> when secured) and returns the first
    /// line of the reply (for example <c>+OK</c>).
    /// </summary>
    public Task<string> SendAsync(params string[] command) =>
        SendAsAsync(Secured ? AdminUser : null, Secured ? PasswordOf(AdminUser) : null, command);

    /// <summary>Sends one command as <paramref name="user"/> (AUTH first; none when null), as any client on the network could.</summary>
    public async Task<string> SendAsAsync(string? user, string? password, params string[] command)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
        Stream stream = client.GetStream();
        if (Tls)
        {
            var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.Add(CertificateAuthority!.Certificate);
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions { TargetHost = TestCertificateAuthority.ServerName, CertificateChainPolicy = policy }, timeout.Token);
            stream = tls;
        }

        await using var _ = stream;
        if (user is not null)
        {
            var auth = await ExchangeAsync(stream, ["AUTH", user, password ?? string.Empty], timeout.Token);
            if (auth != "+OK")
            {
                return auth;
            }
        }

        return await ExchangeAsync(stream, command, timeout.Token);
    }

    private static async Task<string> ExchangeAsync(Stream stream, string[] command, CancellationToken cancellationToken)
    {
        var request = new StringBuilder().Append(CultureInfo.InvariantCulture, $"*{command.Length}\r\n");
        foreach (var part in command)
        {
            request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(part)}\r\n{part}\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cancellationToken);
        var reply = new StringBuilder();
        var buffer = new byte[1];
        while (await stream.ReadAsync(buffer, cancellationToken) == 1 && buffer[0] != (byte)'\n')
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

/// <summary>
/// A <see cref="RedisServerFixture"/> as the cluster runs it: the shipped ACL users (default user off) and TLS only,
/// when this redis-server was built with TLS (<see cref="RedisServerFixture.Tls"/> tells).
/// </summary>
public sealed class SecuredRedisServerFixture : IAsyncLifetime
{
    public RedisServerFixture Server { get; } = new(durable: false, secured: true);

    public Task InitializeAsync() => Server.InitializeAsync();

    public Task DisposeAsync() => Server.DisposeAsync();
}
