using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Tollgate.Exporter;
using Tollgate.Exporter.Hosting;
using Tollgate.Meter;
using Tollgate.Meter.Hosting;

namespace Tollgate.Monitoring.Tests;

/// <summary>One budget threshold of the scenario: when the spend crossed it, when Prometheus saw it, when it was notified.</summary>
public sealed record ThresholdCrossing(int Threshold, double UsedRatio, DateTimeOffset CrossedAt, DateTimeOffset SeenAt, DateTimeOffset? NotifiedAt);

/// <summary>
/// The whole monitoring path with real parts: redis-server, two fake LLM providers (Kestrel), a meter and an exporter
/// in-process on the shared Redis ledger, a Prometheus process scraping both with the repository's rule file, an
/// Alertmanager process with the repository's configuration (integrations pointed at a local webhook receiver), and
/// that receiver. <see cref="RunScenarioAsync"/> drives a budget through 75, 90, 95 and 100 % and produces the traffic
/// every dashboard panel shows; it runs once, whichever test asks first.
/// </summary>
public sealed class EndToEndEnvironment : IAsyncLifetime
{
    public const string TokenBudget = "e2e-platform-tokens";
    public const string DollarBudget = "e2e-all-usd";
    public const string Namespace = "ci-e2e";
    public const string MeterJob = "tollgate-meter";
    public const string ExporterJob = "tollgate-exporter";
    public const long TokenLimit = 10_000;

    /// <summary>Alertmanager's group_wait and group_interval in the test (the repository's are 10 s–30 s and 5 m).</summary>
    public static readonly TimeSpan GroupWait = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan GroupInterval = TimeSpan.FromSeconds(2);

    /// <summary>How long after the last threshold notification the test keeps listening for repeats.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(10);

    // Threshold → the tokens one request adds (input, output): 7600 (76 %), 9100 (91 %), 9600 (96 %), 10100 (101 %).
    private static readonly (int Threshold, int Input, int Output)[] Steps = [(75, 7000, 600), (90, 1300, 200), (95, 400, 100), (100, 400, 100)];

    private static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(30) };
    private static readonly TimeSpan SeenTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan NotifiedTimeout = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly List<string> _log = [];
    private readonly Stopwatch _clock = new();
    private Task? _scenario;
    private string? _directory;
    private RedisServerFixture? _redis;
    private FakeLlmUpstream? _primary;
    private FakeLlmUpstream? _secondary;
    private AlertWebhookReceiver? _webhook;
    private MeterApp? _meter;
    private ExporterApp? _exporter;
    private AlertmanagerProcess? _alertmanager;
    private PrometheusProcess? _prometheus;

    internal PrometheusProcess Prometheus => _prometheus ?? throw new InvalidOperationException("not started");

    internal AlertWebhookReceiver Webhook => _webhook ?? throw new InvalidOperationException("not started");

    /// <summary>Receiver name → its integrations as the test config names them (<c>budget-exhausted/email-0</c>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Integrations { get; private set; } = new Dictionary<string, IReadOnlyList<string>>();

    public IReadOnlyList<ThresholdCrossing> Crossings { get; private set; } = [];

    /// <summary>Every alert of every notification, taken after the quiet period that follows the last threshold.</summary>
    internal IReadOnlyList<ReceivedAlert> Notifications { get; private set; } = [];

    /// <summary>What the scenario did and when (seconds since start), for the test output.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_gate)
            {
                return [.. _log];
            }
        }
    }

    public string ProcessLogs =>
        $"--- prometheus ---\n{_prometheus?.Log}\n--- alertmanager ---\n{_alertmanager?.Log}";

    public async Task InitializeAsync()
    {
        // Fail first, and clearly, when a program the test runs is missing.
        _ = Tools.Prometheus;
        _ = Tools.Alertmanager;
        _clock.Start();
        _directory = Directory.CreateTempSubdirectory("tollgate-e2e-").FullName;

        _redis = new RedisServerFixture();
        await _redis.InitializeAsync();
        _primary = await FakeLlmUpstream.StartAsync();
        _secondary = await FakeLlmUpstream.StartAsync();
        _webhook = await AlertWebhookReceiver.StartAsync();

        var policyPath = Path.Combine(_directory, "policy.yaml");
        await File.WriteAllTextAsync(policyPath, Policy(_secondary.BaseUri));

        var (alertmanagerYaml, integrations) = EndToEndConfigs.Alertmanager(MonitoringPaths.AlertmanagerConfig, _webhook.UrlFor, GroupWait, GroupInterval);
        Integrations = integrations;
        var alertmanagerConfig = Path.Combine(_directory, "alertmanager.yaml");
        await File.WriteAllTextAsync(alertmanagerConfig, alertmanagerYaml);

        // The retention the configuration's comments prescribe (longer than the 744h repeat interval).
        _alertmanager = await AlertmanagerProcess.StartAsync(alertmanagerConfig, "--data.retention=745h");

        _meter = await MeterApp.CreateAsync(
            new MeterOptions
            {
                Listen = "127.0.0.1:0",
                AdminListen = "127.0.0.1:0",
                PolicyPath = policyPath,
                Ledger = _redis.Address,
                SpoolPath = Path.Combine(_directory, "usage.spool"),
                SecretsDirectory = Path.Combine(_directory, "secrets"),
                Namespace = Namespace,
                Upstreams = new Dictionary<string, Uri> { ["anthropic"] = _primary.BaseUri, ["openai"] = _primary.BaseUri },

                // The keys the strict fakes issued, held by the meter as in production; the requests carry none.
                ApiKeys = new Dictionary<string, string>
                {
                    ["anthropic"] = FakeUpstreamOptions.DefaultAnthropicKey,
                    ["openai"] = FakeUpstreamOptions.DefaultOpenAiKey,
                },
            },
            new MeterAppSettings { MinimumLogLevel = LogLevel.Warning });
        await _meter.StartAsync();

        _exporter = await ExporterApp.CreateAsync(
            new ExporterOptions { Listen = "127.0.0.1:0", Ledger = _redis.Address, PolicyPath = policyPath, PollInterval = TimeSpan.FromMilliseconds(100) },
            minimumLogLevel: LogLevel.Warning);
        await _exporter.StartAsync();

        var rulesFile = Path.Combine(_directory, "tollgate-rules.yaml");
        await File.WriteAllTextAsync(rulesFile, EndToEndConfigs.Rules(MonitoringPaths.RulesFile));
        var prometheusConfig = Path.Combine(_directory, "prometheus.yml");
        await File.WriteAllTextAsync(prometheusConfig, EndToEndConfigs.Prometheus(rulesFile, _meter.AdminUri, _exporter.Address, _alertmanager.BaseAddress));
        _prometheus = await PrometheusProcess.StartAsync(prometheusConfig);
        Note($"started: meter {_meter.ProxyUri} (admin {_meter.AdminUri}), exporter {_exporter.Address}, prometheus {_prometheus.BaseAddress}, alertmanager {_alertmanager.BaseAddress}, webhook {_webhook.BaseUri}");
    }

    /// <summary>Runs the scenario once; later callers await the same run.</summary>
    public Task RunScenarioAsync()
    {
        lock (_gate)
        {
            return _scenario ??= Task.Run(ScenarioAsync);
        }
    }

    public async Task DisposeAsync()
    {
        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }

        if (_alertmanager is not null)
        {
            await _alertmanager.DisposeAsync();
        }

        if (_webhook is not null)
        {
            await _webhook.DisposeAsync();
        }

        if (_meter is not null)
        {
            await _meter.StopAsync();
            await _meter.DisposeAsync();
        }

        if (_exporter is not null)
        {
            await _exporter.DisposeAsync();
        }

        if (_primary is not null)
        {
            await _primary.DisposeAsync();
        }

        if (_secondary is not null)
        {
            await _secondary.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held by a stopping component; the temp directory is cleaned by the OS eventually.
            }
        }
    }

    private async Task ScenarioAsync()
    {
        var prometheus = Prometheus;

        // Both targets are scraped, and the token budget reports 0 before any spend (so the rules see it from the start).
        await WaitUntilAsync("both targets up", async () => (await prometheus.SumByAsync("up", "job")) is var up
            && up.GetValueOrDefault(MeterJob) == 1 && up.GetValueOrDefault(ExporterJob) == 1);
        await WaitUntilAsync("the token budget at 0 in both jobs", async () => BothJobs(await RatioByJob(), v => v == 0));
        Note("both targets up; budget gauges at 0");

        // 1. Spend through the four thresholds, one at a time, each awaited until notified (so inhibition never has to
        // choose between two thresholds pending at once).
        var crossings = new List<ThresholdCrossing>();
        var spent = 0L;
        foreach (var (threshold, input, output) in Steps)
        {
            using (var response = await SendAsync("/v1/messages", AnthropicBody("claude-sonnet-4-5", stream: true, $"step {threshold}"),
                Tags("platform", "monorepo", "nightly", "review"), ("x-fake-usage", $"input={input},output={output}")))
            {
                await ExpectAsync(response, HttpStatusCode.OK, $"request crossing {threshold} %");
            }

            var crossedAt = DateTimeOffset.UtcNow;
            spent += input + output;
            var ratio = (double)spent / TokenLimit;
            Note($"spent {spent} of {TokenLimit} tokens ({ratio:P0}): crossed {threshold} %");

            await WaitUntilAsync($"used ratio >= {ratio} in both jobs", async () => BothJobs(await RatioByJob(), v => v >= ratio - 1e-9));
            var seenAt = DateTimeOffset.UtcNow;
            Note($"Prometheus sees {ratio:P0} from both jobs (+{(seenAt - crossedAt).TotalMilliseconds:F0} ms)");

            var notifiedAt = await WaitForThresholdNotificationAsync(threshold);
            Note(notifiedAt is { } at ? $"threshold {threshold} notified (+{(at - crossedAt).TotalMilliseconds:F0} ms)" : $"threshold {threshold} NOT notified within {NotifiedTimeout.TotalSeconds} s");
            crossings.Add(new ThresholdCrossing(threshold, ratio, crossedAt, seenAt, notifiedAt));
        }

        Crossings = crossings;
        var lastNotification = crossings.Select(c => c.NotifiedAt).Max() ?? DateTimeOffset.UtcNow;

        // 2. Traffic the dashboards show beyond plain forwarded requests, in two rounds with a scrape between them so
        // that the counters a panel filters with increase(...) > 0 have grown after Prometheus first saw them.
        await DashboardTrafficAsync();

        // 3. Keep listening: a repeat would arrive within a few group intervals.
        var quietUntil = lastNotification + QuietPeriod;
        if (quietUntil > DateTimeOffset.UtcNow)
        {
            await Task.Delay(quietUntil - DateTimeOffset.UtcNow);
        }

        Notifications = Webhook.Alerts;
        Note($"listened until {QuietPeriod.TotalSeconds:F0} s after the last threshold notification; {Notifications.Count} alerts in {Notifications.Select(n => n.Notification).Distinct().Count()} notifications");
    }

    private async Task DashboardTrafficAsync()
    {
        var prometheus = Prometheus;
        var secondary = _secondary!;
        var summary = AnthropicBody("claude-haiku-4-5", stream: false, "Summarise the build log of run 4711.");
        var summarize = Tags("payments", "checkout", "pr-review", "summarize");

        // Round 1.
        await ExpectBlockedAsync();
        using (var fallback = await SendAsync("/v1/messages", AnthropicBody("claude-sonnet-4-5", stream: false, "triage the failures"), Tags("platform", "monorepo", "nightly", "triage")))
        {
            await ExpectAsync(fallback, HttpStatusCode.OK, "budget fallback response");
            Assert.Equal("response", fallback.Headers.GetValues("x-tollgate-fallback").Single());
        }

        using (var miss = await SendAsync("/v1/messages", summary, summarize, ("x-fake-usage", "input=800,output=120")))
        {
            await ExpectAsync(miss, HttpStatusCode.OK, "first summary");
            Assert.Equal("miss", miss.Headers.GetValues("x-tollgate-cache").Single());
        }

        await ExpectCacheHitAsync(summary, summarize);
        await ExpectUnpricedAsync();
        secondary.FailNext(1, 500);
        using (var failover = await SendAsync("/v1/messages", AnthropicBody("claude-sonnet-4-5", stream: false, "review the flaky test"), Tags("payments", "checkout", "pr-review", "failover")))
        {
            await ExpectAsync(failover, HttpStatusCode.OK, "request failing over to the second target");
            Assert.EndsWith("fallback=upstream", failover.Headers.GetValues("x-tollgate-route").Single(), StringComparison.Ordinal);
        }

        Note("round 1: blocked, budget fallback, cache miss and hit, unpriced model, upstream failover");
        await WaitUntilAsync("round 1 in Prometheus", async () =>
            BothJobs(await prometheus.SumByAsync("tollgate_requests_total{outcome=\"blocked\"}", "job"), v => v >= 1)
            && BothJobs(await prometheus.SumByAsync("tollgate_requests_total{outcome=\"cached\"}", "job"), v => v >= 1)
            && BothJobs(await prometheus.SumByAsync("tollgate_requests_total{outcome=\"fallback\"}", "job"), v => v >= 2)
            && BothJobs(await prometheus.SumByAsync("tollgate_cache_saved_usd_total", "job"), v => v > 0)
            && (await prometheus.SumByAsync("tollgate_unpriced_model_requests_total", "job")).GetValueOrDefault(MeterJob) >= 1
            && (await prometheus.SumByAsync("tollgate_fallbacks_total", "job")).GetValueOrDefault(MeterJob) >= 2);

        // Round 2: the same series grow.
        await ExpectBlockedAsync();
        await ExpectCacheHitAsync(summary, summarize);
        await ExpectUnpricedAsync();
        Note("round 2: blocked, cache hit, unpriced model");
        await WaitUntilAsync("round 2 in Prometheus", async () =>
            BothJobs(await prometheus.SumByAsync("tollgate_requests_total{outcome=\"blocked\"}", "job"), v => v >= 2)
            && BothJobs(await prometheus.SumByAsync("tollgate_requests_total{outcome=\"cached\"}", "job"), v => v >= 2)
            && (await prometheus.SumByAsync("tollgate_unpriced_model_requests_total", "job")).GetValueOrDefault(MeterJob) >= 2);
        Note("round 2 seen by Prometheus");
    }

    private async Task ExpectBlockedAsync()
    {
        using var blocked = await SendAsync("/v1/messages", AnthropicBody("claude-sonnet-4-5", stream: false, "one more review"), Tags("platform", "monorepo", "nightly", "review"));
        await ExpectAsync(blocked, HttpStatusCode.TooManyRequests, "request on the exhausted budget");
    }

    private async Task ExpectCacheHitAsync(string body, string tags)
    {
        using var hit = await SendAsync("/v1/messages", body, tags);
        await ExpectAsync(hit, HttpStatusCode.OK, "repeated summary");
        Assert.Equal("hit", hit.Headers.GetValues("x-tollgate-cache").Single());
    }

    private async Task ExpectUnpricedAsync()
    {
        const string Body = """{"model":"gpt-e2e-unlisted","messages":[{"role":"user","content":"Lint this file."}]}""";
        using var response = await SendAsync("/v1/chat/completions", Body, Tags("payments", "checkout", "pr-review", "lint"), ("x-fake-usage", "input=300,output=40"));
        await ExpectAsync(response, HttpStatusCode.OK, "request for a model without a price");
    }

    private async Task<DateTimeOffset?> WaitForThresholdNotificationAsync(int threshold)
    {
        var label = threshold.ToString(CultureInfo.InvariantCulture);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < NotifiedTimeout)
        {
            var match = Webhook.Alerts.Where(a => a.Label("alertname") == "TollgateBudgetThreshold" && a.Label("budget") == TokenBudget
                && a.Label("threshold") == label && a.Status == "firing").ToList();
            if (match.Count > 0)
            {
                return match.Min(a => a.ReceivedAt);
            }

            await Task.Delay(25);
        }

        return null;
    }

    private async Task<IReadOnlyDictionary<string, double>> RatioByJob() =>
        await Prometheus.SumByAsync($"tollgate_budget_used_ratio{{budget=\"{TokenBudget}\"}}", "job");

    private static bool BothJobs(IReadOnlyDictionary<string, double> byJob, Func<double, bool> condition) =>
        byJob.TryGetValue(MeterJob, out var meter) && condition(meter) && byJob.TryGetValue(ExporterJob, out var exporter) && condition(exporter);

    private async Task WaitUntilAsync(string what, Func<Task<bool>> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > SeenTimeout)
            {
                var targets = await Prometheus.QueryAsync("up");
                throw new TimeoutException($"waited {SeenTimeout.TotalSeconds} s for {what}. up: {string.Join("; ", targets)}\n{string.Join('\n', Log)}\n{ProcessLogs}");
            }

            await Task.Delay(100);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(string path, string body, string tags, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_meter!.ProxyUri, path)) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", tags);
        if (path.StartsWith("/v1/messages", StringComparison.Ordinal))
        {
            request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var response = await Client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task ExpectAsync(HttpResponseMessage response, HttpStatusCode status, string what)
    {
        if (response.StatusCode != status)
        {
            throw new InvalidOperationException($"{what}: expected {(int)status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private void Note(string line)
    {
        lock (_gate)
        {
            _log.Add(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,6:F2} s] {line}"));
        }
    }

    private static string Tags(string team, string repo, string pipeline, string step) =>
        $$"""{"team":"{{team}}","repo":"{{repo}}","pipeline":"{{pipeline}}","agent_step":"{{step}}"}""";

    private static string AnthropicBody(string model, bool stream, string prompt) =>
        $$"""{"model":"{{model}}","max_tokens":64,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{prompt}}"}]}""";

    // One token budget for the platform team (the one driven through its thresholds), one dollar budget over everything
    // (audit: it never blocks; the dashboards' dollar panels need one), and three routing rules for the panels about
    // caching, budget fallbacks and upstream failover.
    private static string Policy(Uri secondary) => $$"""
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: {{TokenBudget}} }
        spec:
          priority: 100
          match: { subjects: ["team:platform"] }
          limit: { amount: {{TokenLimit}}, unit: tokens, period: month }
          enforcement: block
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: {{DollarBudget}} }
        spec:
          priority: 10
          limit: { amount: 1000, unit: usd, period: month }
          enforcement: audit
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: cached-summaries, namespace: {{Namespace}} }
        spec:
          match: { metadata: { agent_step: summarize } }
          cache: { enabled: true, ttlSeconds: 600 }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: failover, namespace: {{Namespace}} }
        spec:
          match: { metadata: { agent_step: failover } }
          route:
            retry: { attempts: 0 }
            targets:
              - { provider: anthropic, model: claude-sonnet-4-5, baseUrl: "{{secondary}}" }
              - { provider: anthropic, model: claude-haiku-4-5 }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: skip-when-spent, namespace: {{Namespace}} }
        spec:
          match: { metadata: { agent_step: triage } }
          fallback: { onBudgetExceeded: { response: "The AI budget of this pipeline is spent: triage skipped." } }
        """;
}
