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
/// <item><b>Cluster DNS by name</b>: a Service that must be reached under its own name (an HTTPS URL whose certificate is
/// checked) resolves, through <see cref="ClusterDns"/>, to a forwarder to the process standing in for it.</item>
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
    private readonly List<(string Local, string Plural, string Name)> _projected = [];
    private readonly ClusterDns? _dns;
    private Process? _process;
    private int _projections;

    /// <param name="pod">The pod as admitted (metadata and spec).</param>
    /// <param name="services">The Services that stand in for the cluster's, by name, namespace and port, with their loopback endpoint.</param>
    /// <param name="dns">Service names the container must reach by name (TLS that checks them); null when none.</param>
    public PodSandbox(JsonObject pod, FakeKubernetesApi api, IReadOnlyDictionary<(string Service, string Namespace, int Port), string> services, ClusterDns? dns = null)
    {
        _pod = pod;
        _api = api;
        _services = services;
        _dns = dns;
    }

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
        var match = TollgateImage().Match(image);
        Assert.True(match.Success, $"{containerName}: image {image} is not one of Tollgate's");
        var binary = Path.Combine(AppContext.BaseDirectory, $"Tollgate.{char.ToUpperInvariant(match.Groups[1].Value[0])}{match.Groups[1].Value[1..]}.dll");
        Assert.True(File.Exists(binary), $"{binary} is not in the test's build output");

        var mounts = MaterialiseVolumes(container);
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

        _process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        return start;
    }

    /// <summary>Polls the container's readinessProbe (HTTP GET) on its mapped port until it answers 200, as the kubelet does.</summary>
    public Task WaitUntilReadyAsync(string containerName, CancellationToken cancellationToken) =>
        WaitUntilProbePassesAsync(containerName, "readinessProbe", cancellationToken);

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
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
        }

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
                _projected.Add((local, plural!, name));
                Project(local, data ?? []);
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
        foreach (var (local, plural, name) in _projected)
        {
            var data = Data(plural, name) ?? [];
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

    [GeneratedRegex(@"^metadata\.(labels|annotations)\['([^']+)'\]$")]
    private static partial Regex FieldPath();

    [GeneratedRegex(@"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")]
    private static partial Regex Reference();

    [GeneratedRegex(@"^(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\]):(\d{1,5})$")]
    private static partial Regex PodEndpoint();

    [GeneratedRegex(@"(?<![\w.-])([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.svc(?:\.cluster\.local)?)?)?:(\d{1,5})\b")]
    private static partial Regex ServiceAddress();
}
