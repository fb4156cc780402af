using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Operator.Certificates;
using Tollgate.Operator.LedgerWiring;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.LedgerWiring;

/// <summary>
/// What the operator writes, served by a real <c>redis-server</c> started with exactly the arguments of the rendered
/// <c>config/default</c> StatefulSet (the volumes' paths mapped to temporary files, the TLS port to a free one, bound to
/// loopback). Clients reach it by the Service's name, verified against the certificate, and connect on loopback.
/// </summary>
public sealed class ShippedRedisTests : IAsyncLifetime
{
    private const string Host = "tollgate-redis.tollgate-system.svc";

    private readonly string _root = Directory.CreateTempSubdirectory("tollgate-shipped-redis-").FullName;
    private readonly StringBuilder _log = new();
    private LedgerCluster _cluster = null!;
    private Process? _redis;
    private IPEndPoint _endPoint = null!;

    public async Task InitializeAsync()
    {
        _cluster = await LedgerCluster.StartAsync();
        await _cluster.IssueCaAsync();
        Assert.False((await _cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None)).Failed);
        Assert.False((await _cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None)).Failed);

        var statefulSet = (await Kubectl.KustomizeAsync("config/default")).Single(o => o["kind"]!.GetValue<string>() == "StatefulSet" && o["metadata"]!["name"]!.GetValue<string>() == "tollgate-redis");
        var pod = statefulSet["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]!.AsArray().Single()!;
        var volumes = pod["volumes"]!.AsArray().ToDictionary(v => v!["name"]!.GetValue<string>(), v => v!["secret"]?["secretName"]?.GetValue<string>());
        var mounts = new List<(string MountPath, string Local)>();
        foreach (var mount in container["volumeMounts"]!.AsArray())
        {
            var name = mount!["name"]!.GetValue<string>();
            var local = Directory.CreateDirectory(Path.Combine(_root, name)).FullName;
            mounts.Add((mount["mountPath"]!.GetValue<string>(), local));

            // The kubelet's secret volume: every key of the Secret the operator wrote, as a file. "data" is the claim.
            if (volumes.GetValueOrDefault(name) is { } secretName)
            {
                foreach (var (key, value) in _cluster.Secret(secretName)!["data"]!.AsObject())
                {
                    await File.WriteAllBytesAsync(Path.Combine(local, key), Convert.FromBase64String(value!.GetValue<string>()));
                }
            }
        }

        var args = container["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("redis-server", args[0]);
        var port = LocalMachine.FreeLoopbackPort();
        _endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var start = new ProcessStartInfo(LocalMachine.FindOnPath("redis-server") ?? throw new InvalidOperationException("redis-server is not on PATH: run ./test.sh"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _root,
        };
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            if (args[i - 1] == "--tls-port")
            {
                arg = port.ToString(CultureInfo.InvariantCulture);
            }

            foreach (var (mountPath, local) in mounts.Where(m => arg.StartsWith(m.MountPath, StringComparison.Ordinal)))
            {
                arg = local + arg[mountPath.Length..];
            }

            start.ArgumentList.Add(arg);
        }

        // A test machine is no pod: only loopback.
        start.ArgumentList.Add("--bind");
        start.ArgumentList.Add("127.0.0.1");
        _redis = Process.Start(start)!;
        _redis.OutputDataReceived += (_, e) => Append(e.Data);
        _redis.ErrorDataReceived += (_, e) => Append(e.Data);
        _redis.BeginOutputReadLine();
        _redis.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(_redis.HasExited, $"redis-server exited: {Log}");
            try
            {
                if ((await CommandAsync(null, null, "PING")).StartsWith("-NOAUTH", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or AuthenticationException)
            {
                // Not listening yet.
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), $"redis-server did not answer over TLS: {Log}");

            // A starting process has no event to wait on.
            await Task.Delay(20);
        }
    }

    [Theory]
    [InlineData("tollgate-ledger-exporter", RedisLedgerAccess.Read)]
    [InlineData("tollgate-ledger-operator", RedisLedgerAccess.Read)]
    [InlineData("tollgate-ledger-meter", RedisLedgerAccess.ReadWrite)]
    public async Task Each_component_connects_with_its_own_secret_over_tls_verified_by_the_service_name(string secret, RedisLedgerAccess access)
    {
        await using var ledger = await ConnectAsync(secret, access, Host, CaFile(_cluster.SecretText("tollgate-redis-tls", "ca.crt")!));

        Assert.True(ledger.IsReady, $"{secret}: {ledger.AccessDenied} {Log}");
        if (access == RedisLedgerAccess.ReadWrite)
        {
            var window = PeriodWindow.Containing(BudgetPeriod.Day, DateTimeOffset.UtcNow);
            await ledger.SettleAsync(Guid.NewGuid().ToString("N"), [new LedgerCharge("b", "s", window, 100m, 1m, CanBlock: false)], [1m], CancellationToken.None);
        }

        Assert.NotNull(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
    }

    [Fact]
    public async Task A_client_that_trusts_another_ca_or_dials_a_name_the_certificate_lacks_is_not_connected()
    {
        using var other = CertificateAuthority.Create("someone-else", TimeProvider.System);
        await using (var wrongCa = await ConnectAsync("tollgate-ledger-exporter", RedisLedgerAccess.Read, Host, CaFile(other.CertificatePem)))
        {
            Assert.False(wrongCa.IsReady);
        }

        await using var wrongName = await ConnectAsync(
            "tollgate-ledger-exporter", RedisLedgerAccess.Read, "redis.example.com", CaFile(_cluster.SecretText("tollgate-redis-tls", "ca.crt")!));
        Assert.False(wrongName.IsReady);
    }

    [Fact]
    public async Task A_client_whose_ca_file_is_replaced_in_place_trusts_the_new_bundle_at_its_next_connect_without_a_restart()
    {
        // As after a CA rotation: the client started with a bundle that does not hold the CA of the certificate Redis serves.
        using var old = CertificateAuthority.Create("the-previous-ca", TimeProvider.System);
        var caFile = CaFile(old.CertificatePem);
        await using var ledger = await ConnectAsync("tollgate-ledger-operator", RedisLedgerAccess.Read, Host, caFile);
        Assert.False(ledger.IsReady);

        // The kubelet brings the new bundle into the volume; the client reconnects on its own schedule.
        await File.WriteAllTextAsync(caFile, _cluster.SecretText("tollgate-redis-tls", "ca.crt"));
        var deadline = Stopwatch.StartNew();
        while (!ledger.IsReady)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"the ledger did not connect with the new bundle: {Log}");

            // The client's reconnect backoff is the only clock here; there is no event to wait on.
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task No_credentials_the_default_user_and_another_components_password_are_refused()
    {
        Assert.StartsWith("-NOAUTH", await CommandAsync(null, null, "GET", "tollgate:{default}:index"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await CommandAsync("default", "", "PING"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await CommandAsync("default", _cluster.SecretText("tollgate-ledger-meter", "password")!, "PING"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await CommandAsync("tollgate-operator", _cluster.SecretText("tollgate-ledger-meter", "password")!, "PING"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await CommandAsync("tollgate-nobody", "x", "PING"), StringComparison.Ordinal);
        Assert.Equal("+PONG", await CommandAsync("tollgate-operator", _cluster.SecretText("tollgate-ledger-operator", "password")!, "PING"));
        Assert.StartsWith("-NOPERM", await CommandAsync("tollgate-meter", _cluster.SecretText("tollgate-ledger-meter", "password")!, "FLUSHALL"), StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        if (_redis is { } redis)
        {
            if (!redis.HasExited)
            {
                redis.Kill();
            }

            await redis.WaitForExitAsync();
            redis.Dispose();
        }

        await _cluster.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A file a dying process still holds; the temp folder is cleaned by the OS eventually.
        }
    }

    private string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    private string CaFile(string pem)
    {
        var path = Path.Combine(_root, $"ca-{Guid.NewGuid():N}.crt");
        File.WriteAllText(path, pem);
        return path;
    }

    /// <summary>The ledger as a component's flags give it (user, password file, CA file), its socket opened on loopback.</summary>
    private async Task<OwnedRedisLedger> ConnectAsync(string secret, RedisLedgerAccess access, string host, string caFile)
    {
        var password = Path.Combine(_root, $"{secret}-{Guid.NewGuid():N}.password");
        await File.WriteAllTextAsync(password, _cluster.SecretText(secret, "password"));
        var options = new RedisLedgerSettings($"rediss://{host}:6379", _cluster.SecretText(secret, "user"), password, caFile).ToOptions(access) with { ConnectTo = _endPoint };
        return await OwnedRedisLedger.ConnectAsync(options, TimeProvider.System, NullLogger.Instance, CancellationToken.None);
    }

    /// <summary>One RESP command over TLS (the Service's name verified against the operator's CA bundle), AUTH first when a user is given.</summary>
    private Task<string> CommandAsync(string? user, string? password, params string[] command) =>
        RawRedis.TlsCommandAsync(_endPoint, Host, _cluster.SecretText("tollgate-redis-tls", "ca.crt")!, user, password, command);
}
