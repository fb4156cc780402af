using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Tollgate.Monitoring.Tests;

/// <summary>One sample of an instant query: the series' labels and its value (NaN and ±Inf as Prometheus gives them).</summary>
internal sealed record PromSample(IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : string.Empty;

    public override string ToString() =>
        "{" + string.Join(", ", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "} "
        + Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A real Prometheus server on a free loopback port with its own configuration file and TSDB directory, and a client
/// for its instant-query API.
/// </summary>
internal sealed class PrometheusProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly string _storage;
    private readonly StringBuilder _log = new();
    private readonly Lock _gate = new();
    private readonly HttpClient _client;

    private PrometheusProcess(Process process, string storage, int port)
    {
        _process = process;
        _storage = storage;
        BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
        _client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
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

    /// <summary>Starts Prometheus with <paramref name="configFile"/>; the port is chosen by binding port 0 (retried if taken meanwhile).</summary>
    public static async Task<PrometheusProcess> StartAsync(string configFile)
    {
        for (var attempt = 1; ; attempt++)
        {
            var storage = Directory.CreateTempSubdirectory("tollgate-prometheus-tsdb-").FullName;
            var port = LocalMachine.FreeLoopbackPort();
            var start = new ProcessStartInfo(Tools.Prometheus)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = storage,
            };
            foreach (var argument in (string[])[
                $"--config.file={configFile}", $"--storage.tsdb.path={storage}",
                string.Create(CultureInfo.InvariantCulture, $"--web.listen-address=127.0.0.1:{port}"),
                "--log.level=info"])
            {
                start.ArgumentList.Add(argument);
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException("prometheus did not start");
            var prometheus = new PrometheusProcess(process, storage, port);
            process.OutputDataReceived += (_, e) => prometheus.Append(e.Data);
            process.ErrorDataReceived += (_, e) => prometheus.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await prometheus.WaitUntilReadyAsync();
                return prometheus;
            }
            catch (InvalidOperationException) when (attempt < 3 && prometheus.Log.Contains("address already in use", StringComparison.Ordinal))
            {
                await prometheus.DisposeAsync();
            }
            catch
            {
                await prometheus.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Evaluates <paramref name="promql"/> now. Throws with Prometheus' error text for a query it refuses.</summary>
    public async Task<IReadOnlyList<PromSample>> QueryAsync(string promql)
    {
        var uri = new Uri("api/v1/query?query=" + Uri.EscapeDataString(promql), UriKind.Relative);
        using var response = await _client.GetAsync(uri);
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"Prometheus refused {promql}: {text}");
        }

        var data = root.GetProperty("data");
        var result = data.GetProperty("result");
        switch (data.GetProperty("resultType").GetString())
        {
            case "vector":
                return [.. result.EnumerateArray().Select(s => new PromSample(Labels(s.GetProperty("metric")), Value(s.GetProperty("value"))))];
            case "scalar":
                return [new PromSample(new Dictionary<string, string>(), Value(result))];
            case "matrix":
                return [.. result.EnumerateArray().Select(s => new PromSample(Labels(s.GetProperty("metric")), Value(s.GetProperty("values").EnumerateArray().Last())))];
            default:
                throw new InvalidOperationException($"{promql} gave a {data.GetProperty("resultType").GetString()} result: {text}");
        }
    }

    /// <summary>Per value of <paramref name="label"/>, the sum of the samples <paramref name="promql"/> returns now.</summary>
    public async Task<IReadOnlyDictionary<string, double>> SumByAsync(string promql, string label)
    {
        var samples = await QueryAsync(promql);
        return samples.GroupBy(s => s.Label(label), StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(s => s.Value), StringComparer.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_storage, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the exiting process; the temp directory is cleaned by the OS eventually.
        }
    }

    private static Dictionary<string, string> Labels(JsonElement metric) =>
        metric.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty, StringComparer.Ordinal);

    // [unix time, "value"]; the value is a string so that NaN and ±Inf survive JSON.
    private static double Value(JsonElement pair) =>
        pair[1].GetString() switch
        {
            "NaN" => double.NaN,
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            var text => double.Parse(text!, NumberStyles.Float, CultureInfo.InvariantCulture),
        };

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

    private async Task WaitUntilReadyAsync()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with code {_process.ExitCode}:\n{Log}");
            }

            try
            {
                using var ready = await _client.GetAsync(new Uri("-/ready", UriKind.Relative));
                if (ready.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (clock.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"prometheus was not ready within {StartTimeout.TotalSeconds} s:\n{Log}");
            }

            // Polling a process that is starting: there is no event to wait on.
            await Task.Delay(50);
        }
    }
}
