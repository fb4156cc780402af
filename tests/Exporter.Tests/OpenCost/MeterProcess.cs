using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests.OpenCost;

/// <summary>
/// A real meter process (<c>dotnet meter/bin/…/Tollgate.Meter.dll</c>, built with the solution) on the shared Redis
/// ledger in front of the fake provider: the usage the plugin reports is what a meter really published.
/// </summary>
internal sealed class MeterProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly string _directory;

    private MeterProcess(Process process, string directory, Uri proxy, Uri admin)
    {
        _process = process;
        _directory = directory;
        Client = new HttpClient { BaseAddress = proxy, Timeout = TimeSpan.FromSeconds(60) };
        Admin = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(30) };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
    }

    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    public static async Task<MeterProcess> StartAsync(string ledger, string ns, FakeLlmUpstream upstream)
    {
        var dll = Path.Combine(RepositoryPaths.Root(), "meter", "bin", "Release", "net10.0", "Tollgate.Meter.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: build the solution (dotnet build Operator.sln -c Release) first");
        }

        var directory = Directory.CreateTempSubdirectory("tollgate-opencost-meter-").FullName;
        var (listen, admin) = (LocalMachine.FreeLoopbackPort(), LocalMachine.FreeLoopbackPort());
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        foreach (var argument in new[]
        {
            dll, "--listen", $"127.0.0.1:{listen}", "--admin-listen", $"127.0.0.1:{admin}", "--ledger", ledger,
            "--spool", Path.Combine(directory, "usage.spool"), "--namespace", ns, "--input-estimate", "bytes",
            "--upstream", "anthropic=" + upstream.BaseUri.ToString().TrimEnd('/'), "--upstream", "openai=" + upstream.BaseUri.ToString().TrimEnd('/'),
        })
        {
            info.ArgumentList.Add(argument);
        }

        // The meter holds the keys the strict fake issued, as in production; a job (SpendAsync) sends none.
        info.Environment["TOLLGATE_ANTHROPIC_API_KEY"] = FakeUpstreamOptions.DefaultAnthropicKey;
        info.Environment["TOLLGATE_OPENAI_API_KEY"] = FakeUpstreamOptions.DefaultOpenAiKey;
        var meter = new MeterProcess(Process.Start(info)!, directory, Loopback(listen), Loopback(admin));
        await meter.WaitUntilReadyAsync();
        return meter;
    }

    public async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the meter exited with {_process.ExitCode}: {StandardError}");
            }

            try
            {
                using var response = await Admin.GetAsync("/readyz");
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

        throw new InvalidOperationException($"the meter was not ready within 30 s: {StandardError}");
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

    /// <summary>One Anthropic request tagged with team, repo and pipeline; the fake provider reports the given usage.</summary>
    public async Task SpendAsync(string model, string team, string repo, string pipeline, int input, int output)
    {
        var body = $$"""{"model":"{{model}}","max_tokens":{{output + 16}},"messages":[{"role":"user","content":"Review this diff."}]}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        request.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", $$"""{"team":"{{team}}","repo":"{{repo}}","pipeline":"{{pipeline}}","agent_step":"review"}""");
        request.Headers.TryAddWithoutValidation("x-fake-usage", string.Create(CultureInfo.InvariantCulture, $"input={input},output={output}"));
        using var response = await Client.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"the meter answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    public async Task<MetricsScrape> ScrapeAsync() => new(await Admin.GetStringAsync("/metrics"));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Admin.Dispose();
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
        }
    }

    private static Uri Loopback(int port) => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));

}
