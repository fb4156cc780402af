using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.TestSupport;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// Starts one container of a pod as a local process, with the container's own <c>args</c> and <c>env</c> as a kubelet
/// would hand them over. Only what cannot exist on a test machine is substituted, each by one rule below and never by
/// editing an argument by hand:
/// <list type="number">
/// <item><b>Image</b>: <c>tollgate/&lt;x&gt;:&lt;tag&gt;</c> runs <c>dotnet Tollgate.&lt;X&gt;.dll</c> from the test's build output (the
/// Dockerfile's ENTRYPOINT), with the aspnet image's environment (<c>DOTNET_RUNNING_IN_CONTAINER</c>, <c>APP_UID</c>,
/// <c>ASPNETCORE_HTTP_PORTS</c>) and nothing inherited from the test run but PATH and DOTNET_ROOT.</item>
/// <item><b>Environment</b>: <c>value</c> as written; <c>fieldRef</c> from the pod's metadata (name, namespace, labels['k'],
/// annotations['k']); <c>secretKeyRef</c>/<c>configMapKeyRef</c> from the fake API's objects, an optional one that is missing
/// left unset. Then <c>$(VAR)</c> expansion with the kubelet's rules (earlier variables only, <c>$$</c> escapes).</item>
/// <item><b>The pod's network namespace</b>: a value that is a whole endpoint on the pod (<c>0.0.0.0:P</c>, <c>127.0.0.1:P</c>,
/// <c>localhost:P</c>) becomes <c>127.0.0.1:&lt;free port&gt;</c>; <see cref="LocalPort"/> tells a probe where container port P went.</item>
/// <item><b>Cluster DNS</b>: <c>svc[.ns[.svc[.cluster.local]]]:port</c> of a Service the test registered becomes the loopback
/// endpoint that stands in for it (e.g. the ledger's Redis).</item>
/// <item><b>Volumes</b>: a value at or under a <c>volumeMount</c>'s <c>mountPath</c> is moved under the pod's temporary root, where
/// the volume is materialised as the kubelet would: a ConfigMap's or Secret's keys as files (from the fake API; an optional
/// one that is missing is an empty folder) laid out as the kubelet's atomic writer lays them out, an emptyDir empty.
/// <see cref="SyncVolumes"/> is the kubelet's periodic sync that brings a changed ConfigMap or Secret into the volume.</item>
/// <item><b>Cluster DNS by name</b>: a Service that must be reached under its own name (an HTTPS URL or a <c>rediss://</c>
/// ledger whose certificate is checked) resolves, through <see cref="ClusterDns"/>, to a forwarder to the process standing
/// in for it.</item>
/// <item><b>Redis</b> (<c>redis:7</c>): the container's <c>args</c> run as the official image's entrypoint runs them
/// (<c>redis-server</c> from PATH), bound to the pod's own loopback address (the pod's network namespace); a probe's
/// <c>127.0.0.1</c> is that address, and its exec command runs with the volumes' paths mapped. A StatefulSet's claims
/// are emptyDirs (a new claim is an empty volume).</item>
/// <item><b>Secret volume items</b>: with <c>items</c> only the listed keys appear, under their paths.</item>
/// <item><b>Service account</b>: a pod that mounts its token gets <c>KUBECONFIG</c> pointing at the fake API instead
/// (KubernetesClient's default configuration reads KUBECONFIG before the in-cluster files).</item>
/// </list>
/// </summary>
internal sealed partial class PodSandbox : IAsyncDisposable
{
    private const string DataLink = "..data";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);

    private readonly JsonObject _pod;
    private readonly FakeKubernetesApi _api;
    private readonly IReadOnlyDictionary<(string Service, string Namespace, int Port), string> _services;
    private readonly string _root = Directory.CreateTempSubdirectory("tollgate-pod-").FullName;
    private readonly Dictionary<int, int> _ports = [];
    private readonly StringBuilder _log = new();
    private readonly List<(string Local, string Plural, string Name, JsonArray? Items)> _projected = [];
    private readonly ClusterDns? _dns;
    private List<(string MountPath, string Local)>? _mounts;
    private Process? _process;
    private int _projections;

    /// <param name="pod">The pod as admitted (metadata and spec).</param>
    /// <param name="services">The Services that stand in for the cluster's, by name, namespace and port, with their loopback endpoint.</param>
    /// <param name="dns">Service names the container must reach by name (TLS that checks them); null when none.</param>
    /// <param name="podAddress">The pod's own address: what a server in it binds and what its probes' 127.0.0.1 means.</param>
    public PodSandbox(
        JsonObject pod,
        FakeKubernetesApi api,
        IReadOnlyDictionary<(string Service, string Namespace, int Port), string> services,
        ClusterDns? dns = null,
        string podAddress = "127.0.0.1")
    {
        _pod = pod;
        _api = api;
        _services = services;
        _dns = dns;
        PodAddress = podAddress;
    }

    public string PodAddress { get; }

    public string Namespace => Str(_pod["metadata"]!["namespace"]);

    /// <summary>Where container port <paramref name="containerPort"/> of this pod listens on the test machine.</summary>
    public int LocalPort(int containerPort) => _ports.TryGetValue(containerPort, out var port)
        ? port
        : throw new InvalidOperationException($"No argument of the container listens on port {containerPort}.");

    /// <summary>What the process wrote so far (stdout and stderr interleaved), for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The pod's containers and init containers (native sidecars among them) by name.</summary>
    public JsonObject Container(string name) =>
        ((_pod["spec"]!["initContainers"] as JsonArray) ?? []).Concat(_pod["spec"]!["containers"]!.AsArray())
            .Select(c => c!.AsObject())
            .Single(c => Str(c["name"]) == name);

    /// <summary>Starts <paramref name="containerName"/> and returns its arguments and environment after the substitutions.</summary>
    public ProcessStartInfo Start(string containerName)
    {
        var container = Container(containerName);
        var image = Str(container["image"]);
        if (RedisImage().IsMatch(image))
        {
            return StartRedis(container);
        }

        var match = TollgateImage().Match(image);
        Assert.True(match.Success, $"{containerName}: image {image} is neither one of Tollgate's nor Redis");
        var binary = Path.Combine(AppContext.BaseDirectory, $"Tollgate.{char.ToUpperInvariant(match.Groups[1].Value[0])}{match.Groups[1].Value[1..]}.dll");
        Assert.True(File.Exists(binary), $"{binary} is not in the test's build output");

        var mounts = _mounts ??= MaterialiseVolumes(container);
        var start = new ProcessStartInfo(LocalMachine.FindOnPath("dotnet") ?? "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Directory.CreateDirectory(Path.Combine(_root, "workdir")).FullName,
        };
        start.Environment.Clear();
        foreach (var inherited in new[] { "PATH", "DOTNET_ROOT" })
        {
            if (Environment.GetEnvironmentVariable(inherited) is { } value)
            {
                start.Environment[inherited] = value;
            }
        }

        start.Environment["HOME"] = Directory.CreateDirectory(Path.Combine(_root, "home")).FullName;
        start.Environment["DOTNET_RUNNING_IN_CONTAINER"] = "true";
        start.Environment["APP_UID"] = "1654";
        start.Environment["ASPNETCORE_HTTP_PORTS"] = Map("0.0.0.0:8080", mounts).Split(':')[^1];

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in (container["env"] as JsonArray ?? []).Select(e => e!.AsObject()))
        {
            if (Resolve(entry) is { } raw)
            {
                env[Str(entry["name"])] = Map(Expand(raw, env), mounts);
            }
        }

        foreach (var (name, value) in env)
        {
            start.Environment[name] = value;
        }

        if (_pod["spec"]!["automountServiceAccountToken"]?.GetValue<bool>() != false)
        {
            start.Environment["KUBECONFIG"] = WriteKubeconfig();
        }

        var arguments = new List<string> { binary };
        arguments.AddRange((container["args"] as JsonArray ?? []).Select(a => Map(Expand(a!.GetValue<string>(), env), mounts)));
        if (_dns is { IsEmpty: false })
        {
            arguments = [.. _dns.Wrap(start.FileName, arguments)];
            start.FileName = LocalMachine.FindOnPath("unshare")!;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Run(start);
    }

    /// <summary>Kills the process (SIGKILL, as a crash would) and waits until it is gone; <see cref="Start"/> runs it again with the same volumes.</summary>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
            _process = null;
        }
    }

    private ProcessStartInfo StartRedis(JsonObject container)
    {
        var mounts = _mounts ??= MaterialiseVolumes(container);
        var args = (container["args"] as JsonArray ?? []).Select(a => Map(a!.GetValue<string>(), mounts)).ToList();
        Assert.Equal("redis-server", args[0]);
        var start = new ProcessStartInfo(LocalMachine.FindOnPath("redis-server") ?? throw new InvalidOperationException("redis-server is not on PATH: run ./test.sh, which installs it"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Directory.CreateDirectory(Path.Combine(_root, "workdir")).FullName,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        foreach (var arg in args.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        // The pod's network namespace: the container listens on every interface of its pod, here the pod's own address.
        start.ArgumentList.Add("--bind");
        start.ArgumentList.Add(PodAddress);
        return Run(start);
    }

    private ProcessStartInfo Run(ProcessStartInfo start)
    {
        _process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        return start;
    }

    /// <summary>Runs the container's exec <paramref name="probeName"/> as the kubelet would in the container, until it exits 0.</summary>
    public async Task WaitUntilExecProbePassesAsync(string containerName, string probeName, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        var last = "not run";
        while (deadline.Elapsed < ReadyTimeout)
        {
            Assert.False(_process!.HasExited, $"{containerName} exited with {(_process.HasExited ? _process.ExitCode : 0)} before it was ready:\n{Log}");
            var (code, output) = await ExecProbeAsync(containerName, probeName, cancellationToken);
            if (code == 0)
            {
                return;
            }

            last = $"exit {code}: {output}";

            // The kubelet polls exec probes too.
            await Task.Delay(100, cancellationToken);
        }

        Assert.Fail($"{containerName}'s {probeName} did not pass within {ReadyTimeout.TotalSeconds} s (last: {last}):\n{Log}");
    }

    /// <summary>One run of an exec probe: the command with the pod's 127.0.0.1 and the volumes' paths mapped.</summary>
    public async Task<(int ExitCode, string Output)> ExecProbeAsync(string containerName, string probeName, CancellationToken cancellationToken)
    {
        var command = Container(containerName)[probeName]!["exec"]!["command"]!.AsArray().Select(c => MapProbe(c!.GetValue<string>())).ToList();
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, (await stdout) + (await stderr));
    }

    private string MapProbe(string value)
    {
        value = PodLoopback().Replace(value, PodAddress);
        foreach (var (mountPath, local) in _mounts ?? [])
        {
            value = value.Replace(mountPath + "/", local + "/", StringComparison.Ordinal);
        }

        return value;
    }

    /// <summary>Polls the container's readinessProbe (HTTP GET) on its mapped port until it answers 200, as the kubelet does.</summary>
    public Task WaitUntilReadyAsync(string containerName, CancellationToken cancellationToken) =>
        Container(containerName)["readinessProbe"]?["exec"] is not null
            ? WaitUntilExecProbePassesAsync(containerName, "readinessProbe", cancellationToken)
            : WaitUntilProbePassesAsync(containerName, "readinessProbe", cancellationToken);

    /// <summary>One HTTP GET of the container's <paramref name="probeName"/> (<c>startupProbe</c>, <c>readinessProbe</c>), as the kubelet sends it.</summary>
    public async Task<(int Status, string Body)> ProbeAsync(string containerName, string probeName, CancellationToken cancellationToken)
    {
        var (client, path) = ProbeClient(containerName, probeName);
        using (client)
        {
            using var response = await client.GetAsync(path, cancellationToken);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
        }
    }

    /// <summary>Polls the container's <paramref name="probeName"/> (HTTP GET) on its mapped port until it answers 200, as the kubelet does.</summary>
    public async Task WaitUntilProbePassesAsync(string containerName, string probeName, CancellationToken cancellationToken)
    {
        var (client, path) = ProbeClient(containerName, probeName);
        using var disposeClient = client;
        var deadline = Stopwatch.StartNew();
        var last = "no answer";
        while (deadline.Elapsed < ReadyTimeout)
        {
            Assert.False(_process!.HasExited, $"{containerName} exited with {(_process.HasExited ? _process.ExitCode : 0)} before it was ready:\n{Log}");
            try
            {
                using var response = await client.GetAsync(path, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }

            // A starting process has no event to wait on; the kubelet polls too.
            await Task.Delay(100, cancellationToken);
        }

        Assert.Fail($"{containerName}'s {probeName} did not pass within {ReadyTimeout.TotalSeconds} s (last probe: {last}):\n{Log}");
    }

    private (HttpClient Client, string Path) ProbeClient(string containerName, string probeName)
    {
        var container = Container(containerName);
        var probe = container[probeName]!["httpGet"]!;
        var port = probe["port"]!.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? Int(probe["port"]!)
            : Int(container["ports"]!.AsArray().Single(p => Str(p!["name"]) == Str(probe["port"]))!["containerPort"]!);
        return (new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{LocalPort(port)}"), Timeout = TimeSpan.FromSeconds(2) }, Str(probe["path"]));
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A file a dying process still holds; the temp folder is cleaned by the OS eventually.
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

    /// <summary>An env entry's value, or null when the kubelet would leave the variable unset.</summary>
    private string? Resolve(JsonObject entry)
    {
        if (entry["value"] is { } value)
        {
            return value.GetValue<string>();
        }

        var from = entry["valueFrom"]!;
        if (from["fieldRef"] is { } fieldRef)
        {
            var path = Str(fieldRef["fieldPath"]);
            var metadata = _pod["metadata"]!;
            if (FieldPath().Match(path) is { Success: true } keyed)
            {
                return metadata[keyed.Groups[1].Value]?[keyed.Groups[2].Value]?.GetValue<string>() ?? string.Empty;
            }

            return path switch
            {
                "metadata.name" => Str(metadata["name"]),
                "metadata.namespace" => Namespace,
                _ => throw new NotSupportedException($"fieldRef {path}"),
            };
        }

        var (selector, plural) = from["secretKeyRef"] is { } secretRef ? (secretRef, "secrets") : (from["configMapKeyRef"]!, "configmaps");
        var data = Data(plural, Str(selector["name"]));
        var key = Str(selector["key"]);
        if (data is not null && data.TryGetValue(key, out var found))
        {
            return found;
        }

        Assert.True(selector["optional"]?.GetValue<bool>() == true, $"env {Str(entry["name"])}: {plural} {Str(selector["name"])} has no key {key} and the reference is not optional: the kubelet would not start the container");
        return null;
    }

    /// <summary>The kubelet's <c>$(VAR)</c> expansion: defined variables are replaced, <c>$$</c> is a literal <c>$</c>, anything else stays.</summary>
    private static string Expand(string value, Dictionary<string, string> env) =>
        Reference().Replace(value, m => m.Value == "$$" ? "$" : env.TryGetValue(m.Groups[1].Value, out var v) ? v : m.Value);

    private string Map(string value, IReadOnlyList<(string MountPath, string Local)> mounts)
    {
        if (PodEndpoint().Match(value) is { Success: true } listen)
        {
            var containerPort = int.Parse(listen.Groups[1].Value, CultureInfo.InvariantCulture);
            if (!_ports.TryGetValue(containerPort, out var local))
            {
                local = LocalMachine.FreeLoopbackPort();
                _ports[containerPort] = local;
            }

            return $"127.0.0.1:{local.ToString(CultureInfo.InvariantCulture)}";
        }

        value = ServiceAddress().Replace(value, m =>
        {
            var ns = m.Groups[2].Success ? m.Groups[2].Value : Namespace;
            var port = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
            return _services.TryGetValue((m.Groups[1].Value, ns, port), out var endpoint) ? endpoint : m.Value;
        });

        foreach (var (mountPath, local) in mounts)
        {
            if (value == mountPath || value.StartsWith(mountPath + "/", StringComparison.Ordinal))
            {
                return local + value[mountPath.Length..];
            }
        }

        return value;
    }

    private List<(string MountPath, string Local)> MaterialiseVolumes(JsonObject container)
    {
        var volumes = (_pod["spec"]!["volumes"] as JsonArray ?? []).ToDictionary(v => Str(v!["name"]), v => v!.AsObject(), StringComparer.Ordinal);
        var mounts = new List<(string, string)>();
        foreach (var mount in (container["volumeMounts"] as JsonArray ?? []).Select(m => m!.AsObject()))
        {
            var mountPath = Str(mount["mountPath"]);
            var local = Directory.CreateDirectory(Path.Combine(_root, "rootfs", mountPath.TrimStart('/'))).FullName;
            var volume = volumes[Str(mount["name"])];
            if (volume["projected"] is JsonObject projected)
            {
                Project(local, ProjectedData(Str(volume["name"]), projected));
                mounts.Add((mountPath, local));
                continue;
            }

            var (source, plural, nameField) = volume["configMap"] is { } configMap ? (configMap, "configmaps", "name")
                : volume["secret"] is { } secret ? (secret, "secrets", "secretName")
                : (null, null, null);
            if (source is not null)
            {
                var name = Str(source[nameField!]);
                var data = Data(plural!, name);
                Assert.True(data is not null || source["optional"]?.GetValue<bool>() == true, $"volume {Str(volume["name"])}: {plural} {Namespace}/{name} does not exist and is not optional: the kubelet would not start the pod");
                var items = source["items"] as JsonArray;
                _projected.Add((local, plural!, name, items));
                Project(local, Select(data, items, Str(volume["name"])));
            }
            else
            {
                Assert.True(volume["emptyDir"] is not null, $"volume {Str(volume["name"])}: only configMap, secret, projected and emptyDir volumes are modelled");
            }

            mounts.Add((mountPath, local));
        }

        // Longest first, so /etc/tollgate/secrets/x wins over /etc/tollgate/secrets.
        return [.. mounts.OrderByDescending(m => m.Item1.Length)];
    }

    /// <summary>
    /// A projected volume's files as the kubelet writes them: a <c>serviceAccountToken</c> source is a TokenRequest for the
    /// pod's service account bound to this pod (minted by the fake API, which must hold the pod); <c>configMap</c> and
    /// <c>secret</c> sources give their <c>items</c> (or every key). Written once: the kubelet's token renewal (at 80 % of its
    /// life) is not modelled, the tests end well before.
    /// </summary>
    private Dictionary<string, string> ProjectedData(string volumeName, JsonObject projected)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var source in (projected["sources"] as JsonArray ?? []).Select(s => s!.AsObject()))
        {
            if (source["serviceAccountToken"] is { } token)
            {
                var seconds = token["expirationSeconds"] is { } e ? Int(e) : 3600;
                files[Str(token["path"])] = _api.IssuePodToken(Namespace, Str(_pod["metadata"]!["name"]), [Str(token["audience"])], TimeSpan.FromSeconds(seconds));
                continue;
            }

            var (reference, plural) = source["configMap"] is { } configMap ? (configMap, "configmaps") : (source["secret"]!, "secrets");
            var data = Data(plural, Str(reference["name"]));
            Assert.True(data is not null || reference["optional"]?.GetValue<bool>() == true, $"volume {volumeName}: {plural} {Namespace}/{Str(reference["name"])} does not exist and is not optional: the kubelet would not start the pod");
            var items = reference["items"] as JsonArray;
            foreach (var (key, value) in data ?? [])
            {
                var item = items?.FirstOrDefault(i => Str(i!["key"]) == key);
                if (items is null || item is not null)
                {
                    files[item is null ? key : Str(item["path"])] = value;
                }
            }
        }

        return files;
    }

    /// <summary>
    /// The kubelet's sync of ConfigMap and Secret volumes: each one whose object changed (or appeared, for an optional one
    /// that was missing) is projected again. The kubelet does this on its own schedule, about once a minute; a test calls it.
    /// </summary>
    public void SyncVolumes()
    {
        foreach (var (local, plural, name, items) in _projected)
        {
            var data = Select(Data(plural, name), items, name);
            var current = Directory.Exists(Path.Combine(local, DataLink))
                ? Directory.EnumerateFiles(Path.Combine(local, DataLink)).ToDictionary(f => Path.GetFileName(f), File.ReadAllText, StringComparer.Ordinal)
                : [];
            if (current.Count != data.Count || data.Any(p => !current.TryGetValue(p.Key, out var value) || value != p.Value))
            {
                Project(local, data);
            }
        }
    }

    /// <summary>
    /// The keys a volume shows: all of them, or with <c>items</c> only those listed, each under its <c>path</c>. A listed key
    /// the object lacks stops the kubelet (unless the volume is optional and the object missing altogether).
    /// </summary>
    private static Dictionary<string, string> Select(Dictionary<string, string>? data, JsonArray? items, string volume)
    {
        if (data is null)
        {
            return [];
        }

        if (items is null)
        {
            return data;
        }

        var selected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items.Select(i => i!.AsObject()))
        {
            var key = Str(item["key"]);
            Assert.True(data.TryGetValue(key, out var value), $"volume {volume}: no key {key}: the kubelet would not start the pod");
            selected[Str(item["path"])] = value;
        }

        return selected;
    }

    /// <summary>
    /// The kubelet's atomic writer: the keys go into a new hidden timestamped folder, <c>..data</c> is pointed at it, each key
    /// is a link through <c>..data</c>, and the previous folder is removed. A reader of the mount sees the files' contents
    /// change through unchanged links, with the write times of the new copy: what a policy reloader must notice.
    /// </summary>
    private void Project(string local, Dictionary<string, string> data)
    {
        var link = Path.Combine(local, DataLink);
        var previous = new FileInfo(link).LinkTarget;
        var version = $"..{DateTime.UtcNow.ToString("yyyy_MM_dd_HH_mm_ss.fffffff", CultureInfo.InvariantCulture)}_{++_projections}";
        var folder = Directory.CreateDirectory(Path.Combine(local, version)).FullName;
        foreach (var (key, content) in data)
        {
            File.WriteAllText(Path.Combine(folder, key), content);
        }

        // The kubelet renames a new link over the old one in one step; .NET cannot rename a link to a folder over another,
        // so here the old link goes first. A reader in that instant finds no files and keeps what it had, as on a failed read.
        if (previous is not null)
        {
            File.Delete(link);
        }

        File.CreateSymbolicLink(link, version);
        foreach (var key in data.Keys.Where(key => new FileInfo(Path.Combine(local, key)).LinkTarget is null))
        {
            File.CreateSymbolicLink(Path.Combine(local, key), Path.Combine(DataLink, key));
        }

        foreach (var stale in Directory.EnumerateFileSystemEntries(local)
            .Where(entry => !Path.GetFileName(entry).StartsWith("..", StringComparison.Ordinal) && !data.ContainsKey(Path.GetFileName(entry))))
        {
            File.Delete(stale);
        }

        if (previous is not null)
        {
            Directory.Delete(Path.Combine(local, previous), recursive: true);
        }
    }

    /// <summary>A ConfigMap's data or a Secret's decoded data in the pod's namespace, or null when it does not exist.</summary>
    private Dictionary<string, string>? Data(string plural, string name)
    {
        var stored = _api.Get("", "v1", plural, Namespace, name);
        if (stored is null)
        {
            return null;
        }

        return (stored["data"]?.AsObject() ?? []).ToDictionary(
            p => p.Key,
            p => plural == "secrets" ? Encoding.UTF8.GetString(Convert.FromBase64String(p.Value!.GetValue<string>())) : p.Value!.GetValue<string>(),
            StringComparer.Ordinal);
    }

    private string WriteKubeconfig()
    {
        var path = Path.Combine(_root, "kubeconfig");
        File.WriteAllText(path, $$"""
            apiVersion: v1
            kind: Config
            clusters: [{ name: fake, cluster: { server: "{{_api.BaseUri}}" } }]
            users: [{ name: serviceaccount, user: { token: fake-service-account-token } }]
            contexts: [{ name: fake, context: { cluster: fake, user: serviceaccount, namespace: {{Namespace}} } }]
            current-context: fake
            """);
        return path;
    }

    private static string Str(JsonNode? node) => node!.GetValue<string>();

    /// <summary>A number whether it came from YAML (a long) or from a serialized model (an int).</summary>
    internal static int Int(JsonNode node) => int.Parse(node.ToJsonString(), CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^tollgate/([a-z]+)(:[\w.-]+)?$")]
    private static partial Regex TollgateImage();

    [GeneratedRegex(@"^redis:[\w.-]+$")]
    private static partial Regex RedisImage();

    [GeneratedRegex(@"(?<![\d.])127\.0\.0\.1(?![\d.])")]
    private static partial Regex PodLoopback();

    [GeneratedRegex(@"^metadata\.(labels|annotations)\['([^']+)'\]$")]
    private static partial Regex FieldPath();

    [GeneratedRegex(@"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")]
    private static partial Regex Reference();

    [GeneratedRegex(@"^(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\]):(\d{1,5})$")]
    private static partial Regex PodEndpoint();

    [GeneratedRegex(@"(?<![\w.-])([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.svc(?:\.cluster\.local)?)?)?:(\d{1,5})\b")]
    private static partial Regex ServiceAddress();
}
