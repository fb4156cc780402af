using System.Net;
using Tollgate.Meter.CommandLine;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>The key broker's flags: refused with one line naming the flag, and the meter as a real process against a fake broker.</summary>
public sealed class KeyBrokerCommandLineTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-broker-cli-").FullName;
    private readonly TestCertificateAuthority _authority = TestCertificateAuthority.Create();

    private string TokenPath => Path.Combine(_directory, "token");

    private string CaPath => Path.Combine(_directory, "ca.crt");

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(TokenPath, "projected-token\n");
        _authority.WritePem(CaPath);
    }

    public Task DisposeAsync()
    {
        _authority.Dispose();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("http://tollgate-webhook.tollgate-system.svc/meter/v1/credentials", "--key-broker: expected an https:// URL (got \"http://tollgate-webhook.tollgate-system.svc/meter/v1/credentials\"); provider keys never travel in clear text")]
    [InlineData("http://127.0.0.1:9443/meter/v1/credentials", "--key-broker: expected an https:// URL (got \"http://127.0.0.1:9443/meter/v1/credentials\"); provider keys never travel in clear text")]
    [InlineData("tollgate-webhook:443", "--key-broker: expected an https:// URL (got \"tollgate-webhook:443\"); provider keys never travel in clear text")]
    [InlineData("https://user:pass@broker/meter/v1/credentials", "--key-broker: \"https://user:pass@broker/meter/v1/credentials\" must have no user, query or fragment")]
    [InlineData("https://broker/meter/v1/credentials?x=1", "--key-broker: \"https://broker/meter/v1/credentials?x=1\" must have no user, query or fragment")]
    public void Key_broker_must_be_an_https_url(string url, string expected) =>
        Assert.Equal(expected, Parse("--key-broker", url, "--key-broker-token", TokenPath, "--key-broker-ca", CaPath).Error);

    [Fact]
    public void Token_and_ca_are_required_and_checked()
    {
        const string Url = "https://broker/meter/v1/credentials";
        Assert.Equal("--key-broker-token: required with --key-broker (the file the kubelet writes the projected service-account token to)", Parse("--key-broker", Url, "--key-broker-ca", CaPath).Error);
        Assert.Equal("--key-broker-token: \"/nonexistent/token\" does not exist", Parse("--key-broker", Url, "--key-broker-token", "/nonexistent/token", "--key-broker-ca", CaPath).Error);
        Assert.Equal("--key-broker-ca: required with --key-broker (the broker is trusted through this CA only)", Parse("--key-broker", Url, "--key-broker-token", TokenPath).Error);
        Assert.Equal("--key-broker-ca: \"/nonexistent/ca.crt\" does not exist", Parse("--key-broker", Url, "--key-broker-token", TokenPath, "--key-broker-ca", "/nonexistent/ca.crt").Error);
        Assert.Equal($"--key-broker-ca: \"{TokenPath}\" holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)", Parse("--key-broker", Url, "--key-broker-token", TokenPath, "--key-broker-ca", TokenPath).Error);
        Assert.Equal("--key-broker-token and --key-broker-ca apply with --key-broker only", Parse("--key-broker-token", TokenPath).Error);
    }

    [Fact]
    public void With_a_key_broker_the_environments_keys_are_not_a_second_source()
    {
        var (options, error) = MeterCommandLine.Parse(
            ["--key-broker", "https://broker/meter/v1/credentials", "--key-broker-token", TokenPath, "--key-broker-ca", CaPath],
            name => name == "TOLLGATE_ANTHROPIC_API_KEY" ? "sk-ant-in-the-environment" : null);

        Assert.Null(error);
        Assert.Empty(options!.ApiKeys);
        Assert.Equal((new Uri("https://broker/meter/v1/credentials"), TokenPath, CaPath), (options.KeyBroker, options.KeyBrokerTokenPath, options.KeyBrokerCaPath));
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Bad_key_broker_flag_exits_2_with_one_line()
    {
        await using var meter = MeterProcess.Start("--key-broker", "http://127.0.0.1:1/meter/v1/credentials", "--key-broker-token", TokenPath, "--key-broker-ca", CaPath);
        Assert.Equal(2, await meter.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal("tollgate-meter: --key-broker: expected an https:// URL (got \"http://127.0.0.1:1/meter/v1/credentials\"); provider keys never travel in clear text", meter.StandardError.Trim());
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Meter_process_with_a_key_broker_forwards_with_its_keys_and_logs_none()
    {
        await using var broker = await FakeKeyBroker.StartAsync(_authority, "projected-token");
        await using var upstream = await FakeLlmUpstream.StartAsync();
        int proxy = LocalMachine.FreeLoopbackPort(), admin = LocalMachine.FreeLoopbackPort();
        await using var meter = MeterProcess.Start(
            new Dictionary<string, string> { ["TOLLGATE_ANTHROPIC_API_KEY"] = "sk-ant-in-the-environment-ignored" },
            "--listen", $"127.0.0.1:{proxy}", "--admin-listen", $"127.0.0.1:{admin}", "--ledger", "memory",
            "--upstream", $"anthropic={upstream.BaseUri}", "--upstream", $"openai={upstream.BaseUri}",
            "--key-broker", broker.Uri.ToString(), "--key-broker-token", TokenPath, "--key-broker-ca", CaPath);
        await meter.WaitUntilReadyAsync(new Uri($"http://127.0.0.1:{admin}"));

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy}") };
        using var response = await client.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", "sk-ant-from-the-job")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, Assert.Single(upstream.Requests).ApiKey);
        Assert.True(broker.Answered >= 1);
        Assert.Contains("Key broker answered: 2 provider keys, 0 routing Secrets, ledger credentials none", meter.StandardOutput + meter.StandardError, StringComparison.Ordinal);
        foreach (var secret in new[] { FakeUpstreamOptions.DefaultAnthropicKey, FakeUpstreamOptions.DefaultOpenAiKey, "projected-token", "sk-ant-in-the-environment-ignored" })
        {
            Assert.DoesNotContain(secret, meter.StandardOutput + meter.StandardError, StringComparison.Ordinal);
        }
    }

    private static (MeterOptions? Options, string? Error) Parse(params string[] args) => MeterCommandLine.Parse(args, _ => null);
}
