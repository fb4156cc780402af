using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>
/// Issue 14 item 2: the meter takes its provider keys and routing Secrets from the operator's key broker (a strict fake
/// on real Kestrel over TLS), holds them in memory only, refreshes them, and keeps the last ones while the broker is away.
/// </summary>
public sealed class KeyBrokerTests : IAsyncLifetime
{
    private const string RotatedAnthropicKey = "sk-ant-api03-rotated-by-the-broker";
    private const string RoutedKey = "sk-ant-api03-routing-secret-from-the-broker";
    private const string JobKey = "sk-ant-from-the-job";
    private const string JobOpenAiKey = "sk-proj-from-the-job";

    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-broker-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero));
    private readonly TestCertificateAuthority _authority = TestCertificateAuthority.Create();
    private FakeKeyBroker _broker = null!;
    private FakeLlmUpstream _upstream = null!;

    private string TokenPath => Path.Combine(_directory, "token");

    private string CaPath => Path.Combine(_directory, "ca.crt");

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(TokenPath, "projected-token-one\n");
        _authority.WritePem(CaPath);
        _broker = await FakeKeyBroker.StartAsync(_authority, "projected-token-one");
        _upstream = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions
        {
            AnthropicKeys = [FakeUpstreamOptions.DefaultAnthropicKey, RotatedAnthropicKey, RoutedKey],
        });
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        await _upstream.DisposeAsync();
        _authority.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Requests_carry_the_brokers_keys_in_place_of_the_jobs_own()
    {
        await using var meter = await StartAsync();
        await Refresher(meter).AttemptAsync(1);

        using (var anthropic = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", JobKey))))
        {
            Assert.Equal(HttpStatusCode.OK, anthropic.StatusCode);
        }

        using (var openai = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(), ("Authorization", "Bearer " + JobOpenAiKey))))
        {
            Assert.Equal(HttpStatusCode.OK, openai.StatusCode);
        }

        Assert.Equal([FakeUpstreamOptions.DefaultAnthropicKey, FakeUpstreamOptions.DefaultOpenAiKey], _upstream.Requests.Select(r => r.ApiKey));
        Assert.DoesNotContain(_upstream.Requests.SelectMany(r => r.Headers.Values), value => value.Contains(JobKey, StringComparison.Ordinal) || value.Contains(JobOpenAiKey, StringComparison.Ordinal));
        Assert.Empty(_broker.RefusedTokens);
    }

    [Fact]
    public async Task Startup_gate_waits_for_the_brokers_first_answer_and_no_request_passes_before()
    {
        _broker.Refuse(503, "unavailable");
        await using var meter = await StartAsync();
        var first = await Refresher(meter).AttemptAsync(1);
        Assert.Equal("unavailable", first.Outcome);

        using (var startup = await meter.Admin.GetAsync("/startupz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, startup.StatusCode);
            Assert.StartsWith("key broker has not answered yet (last: unavailable: the broker answered 503 (unavailable: refused by the test (unavailable)))",
                await startup.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var early = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", JobKey))))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
            using var error = JsonDocument.Parse(await early.Content.ReadAsStringAsync());
            Assert.Equal("keys_unavailable", error.RootElement.GetProperty("error").GetProperty("tollgate_type").GetString());
        }

        Assert.Empty(_upstream.Requests);
        _broker.Refuse(null);
        _time.Advance(first.Delay);
        Assert.Equal("ok", (await Refresher(meter).AttemptAsync(2)).Outcome);
        Assert.Equal("started\n", await meter.Admin.GetStringAsync("/startupz"));
        Assert.Equal("ready\n", await meter.Admin.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task Refresh_picks_up_a_rotated_key()
    {
        await using var meter = await StartAsync();
        var first = await Refresher(meter).AttemptAsync(1);
        Assert.InRange(first.Delay, TimeSpan.FromSeconds(270), TimeSpan.FromSeconds(300));
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, await SentKeyAsync(meter));

        _broker.SetAnswer(FakeKeyBroker.Answer(anthropic: RotatedAnthropicKey));
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, await SentKeyAsync(meter));
        _time.Advance(first.Delay);
        Assert.Equal("ok", (await Refresher(meter).AttemptAsync(2)).Outcome);

        Assert.Equal(RotatedAnthropicKey, await SentKeyAsync(meter));
    }

    [Fact]
    public async Task Broker_down_after_start_keeps_the_last_keys_and_readiness_says_so()
    {
        _broker.SetAnswer(FakeKeyBroker.Answer(refreshSeconds: 60));
        var logs = new CapturedLogs();
        await using var meter = await StartAsync(logs);
        var refresher = Refresher(meter);
        var wait = await refresher.AttemptAsync(1);
        var answeredAt = _time.GetUtcNow();
        _broker.Refuse(503, "unavailable");

        // Retries back off and never wait longer than the refresh period; readiness holds for three periods.
        var attempt = 1;
        while (_time.GetUtcNow() - answeredAt <= TimeSpan.FromSeconds(180))
        {
            Assert.Equal("ready\n", await meter.Admin.GetStringAsync("/readyz"));
            _time.Advance(wait.Delay);
            wait = await refresher.AttemptAsync(++attempt);
            Assert.Equal("unavailable", wait.Outcome);
            Assert.True(wait.Delay <= TimeSpan.FromSeconds(60), $"retry {attempt} waits {wait.Delay}");
        }

        using (var ready = await meter.Admin.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Matches(@"^key broker has not answered for \d+ s \(last: unavailable: .*\); serving the credentials it gave last\n$", await ready.Content.ReadAsStringAsync());
        }

        Assert.Equal("started\n", await meter.Admin.GetStringAsync("/startupz"));
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, await SentKeyAsync(meter));
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_key_broker_refreshes_total", ("outcome", "ok")));
        Assert.Equal(attempt - 1, scrape.Sum("tollgate_key_broker_refreshes_total", ("outcome", "unavailable")));

        // One line for the first failure, then at most one a minute: fewer lines than failures.
        var failureLines = logs.Lines.Count(line => line.Contains("Key broker fetch failed (unavailable", StringComparison.Ordinal));
        Assert.InRange(failureLines, 1, attempt - 2);

        _broker.Refuse(null);
        _time.Advance(wait.Delay);
        Assert.Equal("ok", (await refresher.AttemptAsync(attempt + 1)).Outcome);
        Assert.Equal("ready\n", await meter.Admin.GetStringAsync("/readyz"));
        Assert.Contains(logs.Lines, line => line.Contains($"Key broker answered again after {attempt - 1} failed fetches", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Token_file_is_read_again_at_every_fetch()
    {
        await using var meter = await StartAsync();
        var first = await Refresher(meter).AttemptAsync(1);

        // The kubelet rewrites the projected token; the broker accepts only the new one from then on.
        await File.WriteAllTextAsync(TokenPath, "projected-token-two");
        _broker.AcceptTokens("projected-token-two");
        _time.Advance(first.Delay);

        Assert.Equal("ok", (await Refresher(meter).AttemptAsync(2)).Outcome);
        Assert.Empty(_broker.RefusedTokens);
    }

    [Fact]
    public async Task A_token_the_broker_refuses_is_reported_as_unauthenticated()
    {
        await File.WriteAllTextAsync(TokenPath, "a-token-the-broker-never-issued");
        await using var meter = await StartAsync();

        Assert.Equal("unauthenticated", (await Refresher(meter).AttemptAsync(1)).Outcome);
        Assert.Equal(["a-token-the-broker-never-issued"], _broker.RefusedTokens);
        using var startup = await meter.Admin.GetAsync("/startupz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, startup.StatusCode);
        Assert.Contains("(last: unauthenticated: the broker answered 401 (unauthenticated: ", await startup.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broker_whose_certificate_another_authority_issued_is_not_trusted()
    {
        using var other = TestCertificateAuthority.Create();
        await using var impostor = await FakeKeyBroker.StartAsync(other, "projected-token-one");
        await using var meter = await MeterHarness.StartAsync(_upstream, configure: o => o with
        {
            ApiKeys = new Dictionary<string, string>(),
            KeyBroker = impostor.Uri,
            KeyBrokerTokenPath = TokenPath,
            KeyBrokerCaPath = CaPath,
        }, time: _time);

        Assert.Equal("unreachable", (await Refresher(meter).AttemptAsync(1)).Outcome);
        Assert.Equal(0, impostor.Requests);
        Assert.False(Broker(meter).Available);
    }

    [Theory]
    [InlineData(System.Net.Security.SslPolicyErrors.None, true)]
    [InlineData(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors, true)]
    [InlineData(System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch, false)]
    [InlineData(System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch | System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors, false)]
    public void Broker_certificate_must_chain_to_the_ca_and_name_the_host(System.Net.Security.SslPolicyErrors errors, bool trusted)
    {
        var bundle = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(_authority.Certificate);
        Assert.Equal(trusted, KeyBrokerTrust.IsTrusted(bundle, _authority.ServerCertificate, null, errors));
        using var other = TestCertificateAuthority.Create();
        Assert.False(KeyBrokerTrust.IsTrusted(bundle, other.ServerCertificate, null, errors));
    }

    [Fact]
    public async Task An_answer_larger_than_the_bound_is_refused_and_the_last_keys_kept()
    {
        await using var meter = await StartAsync();
        var wait = await Refresher(meter).AttemptAsync(1);
        _broker.SetAnswer("""{"providerKeys":{"anthropic":"sk-ant-padded"},"refreshSeconds":300,"padding":" """ + new string('x', KeyBrokerClient.MaxResponseBytes) + "\"}");
        _time.Advance(wait.Delay);

        Assert.Equal("invalid_response", (await Refresher(meter).AttemptAsync(2)).Outcome);
        Assert.Equal($"invalid_response: the answer (200) is larger than {KeyBrokerClient.MaxResponseBytes} bytes", Broker(meter).LastOutcome);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, await SentKeyAsync(meter));
    }

    [Fact]
    public async Task Routing_rule_secrets_come_from_the_broker()
    {
        var secrets = new Dictionary<string, IReadOnlyDictionary<string, string>> { ["anthropic-ci"] = new Dictionary<string, string> { ["apiKey"] = RoutedKey } };
        _broker.SetAnswer(FakeKeyBroker.Answer(secrets: secrets));
        var policy = """
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: reviews, namespace: ci }
            spec:
              match: { models: ["claude-sonnet-4-5"] }
              route:
                targets:
                  - { provider: anthropic, model: claude-haiku-4-5, apiKeySecretRef: { name: anthropic-ci, key: apiKey } }
            """;
        await using var meter = await StartAsync(policy: policy);
        await Refresher(meter).AttemptAsync(1);

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", JobKey)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(_upstream.Requests);
        Assert.Equal(RoutedKey, received.ApiKey);
        Assert.Contains("\"claude-haiku-4-5\"", received.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_key_or_token_reaches_the_log_the_metrics_or_an_error()
    {
        var logs = new CapturedLogs();
        await using var meter = await StartAsync(logs, LogLevel.Trace);
        var refresher = Refresher(meter);
        var wait = await refresher.AttemptAsync(1);
        await SentKeyAsync(meter);

        // A broken answer whose bad value is itself key-like must be refused without quoting it.
        _broker.SetAnswer("""{"providerKeys":{"anthropic":"sk-ant-with a space"},"refreshSeconds":300}""");
        _time.Advance(wait.Delay);
        wait = await refresher.AttemptAsync(2);
        Assert.Equal("invalid_response", wait.Outcome);
        _broker.SetAnswer("""{"providerKeys":{"anthropic":"sk-ant-dup-one"},"providerKeys":{"anthropic":"sk-ant-dup-two"},"refreshSeconds":300}""");
        _time.Advance(wait.Delay);
        Assert.Equal("invalid_response", (await refresher.AttemptAsync(3)).Outcome);

        var everything = logs.Text + await meter.Admin.GetStringAsync("/metrics") + await meter.Admin.GetStringAsync("/readyz") + Broker(meter).LastOutcome + Broker(meter).Current;
        Assert.Contains("Key broker answered: 2 provider keys", everything, StringComparison.Ordinal);
        Assert.Contains("Key broker fetch failed (invalid_response", everything, StringComparison.Ordinal);
        foreach (var secret in new[] { FakeUpstreamOptions.DefaultAnthropicKey, FakeUpstreamOptions.DefaultOpenAiKey, "projected-token-one", "sk-ant-with a space", "sk-ant-dup" })
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        }
    }

    private static KeyBrokerRefresher Refresher(MeterHarness meter) => meter.App.Services.GetRequiredService<KeyBrokerRefresher>();

    private static BrokerKeySource Broker(MeterHarness meter) => meter.App.Services.GetRequiredService<BrokerKeySource>();

    private async Task<string?> SentKeyAsync(MeterHarness meter)
    {
        _upstream.ClearRequests();
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", JobKey)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Assert.Single(_upstream.Requests).ApiKey;
    }

    private Task<MeterHarness> StartAsync(CapturedLogs? logs = null, LogLevel level = LogLevel.Information, string? policy = null) =>
        MeterHarness.StartAsync(_upstream, policy, configure: o => o with
        {
            ApiKeys = new Dictionary<string, string>(),
            KeyBroker = _broker.Uri,
            KeyBrokerTokenPath = TokenPath,
            KeyBrokerCaPath = CaPath,
        }, time: _time, logs: logs, minimumLogLevel: level);
}
