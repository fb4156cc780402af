using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// <see cref="MeterHarness"/>'s meter as a separate process (the native binary in the native run): the same default
/// options, turned into the command line and environment the process reads. Only options the command line carries
/// may be changed; any other change fails the test rather than being silently dropped.
/// </summary>
public sealed class MeterProcessHarness : IMeterUnderTest
{
    private readonly MeterProcess _process;
    private readonly string _directory;
    private readonly HttpClient _client;

    private MeterProcessHarness(MeterProcess process, string directory, Uri proxy, Uri admin)
    {
        _process = process;
        _directory = directory;
        ProxyUri = proxy;
        _client = new HttpClient { BaseAddress = proxy, Timeout = TimeSpan.FromSeconds(60) };
        Admin = new HttpClient { BaseAddress = admin, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri ProxyUri { get; }

    public HttpClient Admin { get; }

    public static async Task<MeterProcessHarness> StartAsync(
        FakeLlmUpstream upstream, string? policy = null, Func<MeterOptions, MeterOptions>? configure = null, string? directory = null)
    {
        directory ??= Directory.CreateTempSubdirectory("tollgate-meter-").FullName;
        var policyPath = Path.Combine(directory, "policy.yaml");
        if (policy is not null)
        {
            await File.WriteAllTextAsync(policyPath, policy);
        }

        int proxy = LocalMachine.FreeLoopbackPort(), admin = LocalMachine.FreeLoopbackPort();
        var defaults = MeterHarness.DefaultOptions(upstream, directory, policy is null ? null : policyPath) with
        {
            Listen = $"127.0.0.1:{proxy}",
            AdminListen = $"127.0.0.1:{admin}",
        };
        var options = configure?.Invoke(defaults) ?? defaults;
        var meter = MeterProcess.Start(MeterHarness.MeterKeyEnvironment, [.. Arguments(defaults, options)]);
        var harness = new MeterProcessHarness(meter, directory, new Uri($"http://127.0.0.1:{proxy}"), new Uri($"http://127.0.0.1:{admin}"));

        // Like MeterApp.StartAsync in process: listening, whether or not the ledger is usable (readiness is the test's to check).
        await meter.WaitUntilAnswersAsync(new Uri($"http://127.0.0.1:{admin}"), "/startupz");
        return harness;
    }

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request) => await _client.SendAsync(request);

    public async Task<MetricsScrape> ScrapeAsync() => new(await Admin.GetStringAsync("/metrics"));

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        Admin.Dispose();
        await _process.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // A test that handed in its own folder may have removed it already.
        }
    }

    private static IEnumerable<string> Arguments(MeterOptions defaults, MeterOptions options)
    {
        var carried = options with
        {
            Ledger = defaults.Ledger,
            SpoolPath = defaults.SpoolPath,
            LedgerUser = defaults.LedgerUser,
            LedgerPasswordFile = defaults.LedgerPasswordFile,
            LedgerCaPath = defaults.LedgerCaPath,
            SecretsDirectory = defaults.SecretsDirectory,
        };
        Assert.True(carried == defaults, "the meter process harness takes only ledger, spool, ledger credential and secrets folder changes");

        string[] fixedArgs =
        [
            "--listen", options.Listen, "--admin-listen", options.AdminListen, "--ledger", options.Ledger,
            "--upstream", $"anthropic={options.Upstreams["anthropic"]}", "--upstream", $"openai={options.Upstreams["openai"]}",
            "--secrets-dir", options.SecretsDirectory,
        ];
        foreach (var arg in fixedArgs)
        {
            yield return arg;
        }

        foreach (var (name, value) in new[]
        {
            ("--policy", options.PolicyPath), ("--spool", options.SpoolPath), ("--ledger-user", options.LedgerUser),
            ("--ledger-password-file", options.LedgerPasswordFile), ("--ledger-ca", options.LedgerCaPath),
        })
        {
            if (value is not null)
            {
                yield return name;
                yield return value;
            }
        }
    }
}
