using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Prometheus;
using Tollgate.Meter.Hosting;
using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// A real meter (Kestrel on loopback ports chosen by the OS) in front of a fake upstream, with its own ledger
/// directory, policy file and metrics registry. Disposing stops the server and deletes the files.
/// </summary>
public sealed class MeterHarness : IMeterUnderTest
{
    private MeterHarness(MeterApp app, string directory, FakeLlmUpstream upstream)
    {
        App = app;
        Directory = directory;
        Upstream = upstream;
        Client = new HttpClient { BaseAddress = app.ProxyUri, Timeout = TimeSpan.FromSeconds(60) };
        Admin = new HttpClient { BaseAddress = app.AdminUri, Timeout = TimeSpan.FromSeconds(30) };
    }

    public MeterApp App { get; }

    public string Directory { get; }

    public FakeLlmUpstream Upstream { get; }

    public HttpClient Client { get; }

    public HttpClient Admin { get; }

    public Uri ProxyUri => App.ProxyUri;

    public string PolicyPath => Path.Combine(Directory, "policy.yaml");

    public string LedgerPath => Path.Combine(Directory, "ledger.jsonl");

    public static async Task<MeterHarness> StartAsync(
        FakeLlmUpstream upstream, string? policy = null, Func<MeterOptions, MeterOptions>? configure = null, string? directory = null, TimeProvider? time = null,
        Core.Ledger.IBudgetLedger? ledger = null, Core.Events.IUsageSink? usageSink = null, ILoggerProvider? logs = null, LogLevel minimumLogLevel = LogLevel.Warning)
    {
        directory ??= System.IO.Directory.CreateTempSubdirectory("tollgate-meter-").FullName;
        var policyPath = Path.Combine(directory, "policy.yaml");
        if (policy is not null)
        {
            await File.WriteAllTextAsync(policyPath, policy);
        }

        var options = DefaultOptions(upstream, directory, policy is null ? null : policyPath);
        options = configure?.Invoke(options) ?? options;
        var app = await MeterApp.CreateAsync(options, new MeterAppSettings { Registry = Metrics.NewCustomRegistry(), MinimumLogLevel = minimumLogLevel, Time = time, Ledger = ledger, UsageSink = usageSink, LoggerProvider = logs });
        await app.StartAsync();
        return new MeterHarness(app, directory, upstream);
    }

    /// <summary>The options of a test meter before a test's own changes: loopback ports, the fake upstream and its keys.</summary>
    public static MeterOptions DefaultOptions(FakeLlmUpstream upstream, string directory, string? policyPath) =>
        new()
        {
            Listen = "127.0.0.1:0",
            AdminListen = "127.0.0.1:0",
            PolicyPath = policyPath,
            Ledger = Path.Combine(directory, "ledger.jsonl"),
            Upstreams = new Dictionary<string, Uri> { ["anthropic"] = upstream.BaseUri, ["openai"] = upstream.BaseUri },

            // As in production (TOLLGATE_ANTHROPIC_API_KEY / TOLLGATE_OPENAI_API_KEY): the meter holds the keys the
            // strict fake issued, and a job sends none.
            ApiKeys = MeterKeys,
        };

    /// <summary>The keys the meter holds by default: the ones the fake provider issues.</summary>
    public static IReadOnlyDictionary<string, string> MeterKeys { get; } = new Dictionary<string, string>
    {
        ["anthropic"] = FakeUpstreamOptions.DefaultAnthropicKey,
        ["openai"] = FakeUpstreamOptions.DefaultOpenAiKey,
    };

    /// <summary>The same keys as the meter process reads them from its environment.</summary>
    public static IReadOnlyDictionary<string, string> MeterKeyEnvironment { get; } = new Dictionary<string, string>
    {
        ["TOLLGATE_ANTHROPIC_API_KEY"] = FakeUpstreamOptions.DefaultAnthropicKey,
        ["TOLLGATE_OPENAI_API_KEY"] = FakeUpstreamOptions.DefaultOpenAiKey,
    };

    public static string Tags(string team = "payments", string repo = "checkout", string pipeline = "pr-review", string? agentStep = null)
    {
        var tags = new Dictionary<string, string> { ["team"] = team, ["repo"] = repo, ["pipeline"] = pipeline };
        if (agentStep is not null)
        {
            tags["agent_step"] = agentStep;
        }

        return JsonSerializer.Serialize(tags);
    }

    /// <summary>
    /// Builds a provider request with the tagging header and optional fake-upstream knobs. An Anthropic request carries
    /// <c>anthropic-version</c>, as every Anthropic client sends it (the provider answers 400 without it); no key: the
    /// meter holds it.
    /// </summary>
    public static HttpRequestMessage Request(string path, string body, string? tags, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (tags is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", tags);
        }

        if (path.StartsWith("/v1/messages", StringComparison.Ordinal))
        {
            request.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    public const string AnthropicVersion = "2023-06-01";

    public static string AnthropicBody(string model = "claude-sonnet-4-5", bool stream = false, int maxTokens = 1024) =>
        $$"""{"model":"{{model}}","max_tokens":{{maxTokens}},"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"Review this diff."}]}""";

    public static string ChatBody(string model = "gpt-4o", bool stream = false, bool? includeUsage = null)
    {
        var options = includeUsage is null ? string.Empty : $$""","stream_options":{"include_usage":{{(includeUsage.Value ? "true" : "false")}}}""";
        return $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}}{{options}},"messages":[{"role":"user","content":"Summarize the build log."}]}""";
    }

    public static string ResponsesBody(string model = "gpt-5", bool stream = false) =>
        $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"input":"Write a test plan.","max_output_tokens":2048}""";

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request) => await Client.SendAsync(request);

    public async Task<MetricsScrape> ScrapeAsync() => new(await Admin.GetStringAsync("/metrics"));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A restart test reuses the directory; the last harness removes it.
        }
    }

    /// <summary>Stops the meter but keeps its files, for restart tests.</summary>
    public async Task StopKeepingFilesAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public static MediaTypeHeaderValue Json => new("application/json");
}
