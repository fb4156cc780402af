using System.Net;
using System.Net.Sockets;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// Cluster DNS and kube-proxy for names a process must keep: an HTTPS client that checks the server's certificate
/// against the Service's DNS name (the meter calling the key broker at <c>https://tollgate-webhook.tollgate-system.svc</c>)
/// cannot be handed a loopback address instead. Each Service gets an address of its own in 127.0.0.0/8 with a
/// forwarder on the Service's port to the process standing in for it, and a hosts file names it; a container started
/// with <see cref="Wrap"/> sees that file as its <c>/etc/hosts</c> in a private mount namespace (nothing on the machine
/// changes). Needs root (the Service port, 443, and the mount) and util-linux <c>unshare</c>.
/// </summary>
internal sealed class ClusterDns : IAsyncDisposable
{
    private readonly List<Forwarder> _forwarders = [];
    private readonly List<string> _lines = [];
    private readonly string _hostsFile = Path.Combine(Directory.CreateTempSubdirectory("tollgate-dns-").FullName, "hosts");

    /// <summary>Null when this machine can give a process its own hosts file; otherwise why not.</summary>
    public static string? Unavailable =>
        !OperatingSystem.IsLinux() ? "needs Linux mount namespaces"
        : Environment.UserName != "root" ? "needs root, to bind Service ports below 1024 and to mount a hosts file"
        : LocalMachine.FindOnPath("unshare") is null ? "needs util-linux unshare"
        : null;

    public bool IsEmpty => _lines.Count == 0;

    /// <summary>Makes <c>service.namespace.svc:port</c> (and its other forms) reach <paramref name="target"/>.</summary>
    public void Add(string service, string @namespace, int port, IPEndPoint target)
    {
        // Not 127.0.0.1: another test, or another run on this machine, may hold the same port there.
        var address = new IPAddress([127, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(2, 255)]);
        _forwarders.Add(Forwarder.Start(new IPEndPoint(address, port), target));
        _lines.Add($"{address} {service}.{@namespace}.svc {service}.{@namespace}.svc.cluster.local {service}.{@namespace}");
        File.WriteAllLines(_hostsFile, [.. File.ReadAllLines("/etc/hosts"), .. _lines]);
    }

    /// <summary>
    /// The command line that runs <paramref name="program"/> with <paramref name="arguments"/> seeing this hosts file:
    /// <c>unshare --mount</c> (which execs, so the process's pid is the program's), a bind mount, then <c>exec</c>.
    /// </summary>
    public IReadOnlyList<string> Wrap(string program, IEnumerable<string> arguments) =>
    [
        "--mount", "--propagation", "private", "/bin/sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\"", _hostsFile, program, .. arguments,
    ];

    public async ValueTask DisposeAsync()
    {
        foreach (var forwarder in _forwarders)
        {
            await forwarder.DisposeAsync();
        }

        Directory.Delete(Path.GetDirectoryName(_hostsFile)!, recursive: true);
    }

    /// <summary>kube-proxy for one Service port: every connection is piped to the target as it is (TLS passes through untouched).</summary>
    private sealed class Forwarder : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly IPEndPoint _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        private Forwarder(Socket listener, IPEndPoint target)
        {
            _listener = listener;
            _target = target;
            _accepting = AcceptAsync();
        }

        public static Forwarder Start(IPEndPoint at, IPEndPoint target)
        {
            var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(at);
            listener.Listen();
            return new Forwarder(listener, target);
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = PipeAsync(client);
            }
        }

        private async Task PipeAsync(Socket client)
        {
            using var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await using var downstream = new NetworkStream(client, ownsSocket: true);
            try
            {
                await upstream.ConnectAsync(_target, _stop.Token);
                await using var up = new NetworkStream(upstream, ownsSocket: false);
                await Task.WhenAny(downstream.CopyToAsync(up, _stop.Token), up.CopyToAsync(downstream, _stop.Token));
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
            {
                // One side went away; the other is closed with it, as a dropped connection through kube-proxy is.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            await _accepting;
            _stop.Dispose();
        }
    }
}
