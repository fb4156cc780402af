using System.Net;
using System.Text.RegularExpressions;
using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>The README's meter command lines that start, stop or describe the meter.</summary>
public sealed partial class MeterCommandTests : IDisposable
{
    private readonly Workspace _workspace = new();

    [Fact]
    public async Task Upstream_ca_command_trusts_a_private_ca_and_stops_on_a_missing_file()
    {
        var block = Repo.Block("README.md", "### Upstream authority, TLS and `--upstream-ca`",
            "dotnet run --project meter -- --upstream anthropic=https://llm-gateway.internal --upstream-ca /etc/tollgate/ca.pem");
        var documented = new ShellCommand(block.Commands[0]);

        // As written: this machine has no /etc/tollgate/ca.pem, and the README says a missing file stops the meter (exit 2, one line naming the flag).
        Assert.False(File.Exists("/etc/tollgate/ca.pem"));
        var (code, stopped) = await ShellProcess.RunAsync(documented, _workspace.Path);
        Assert.Equal(2, code);
        Assert.Equal("tollgate-meter: --upstream-ca: \"/etc/tollgate/ca.pem\" does not exist", stopped.StandardError.Trim());

        // With the gateway standing in: a TLS fake whose certificate comes from a private CA, and that CA's PEM as the file.
        await using var gateway = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true });
        var pem = _workspace.File("ca.pem");
        gateway.CertificateAuthority!.WritePem(pem);
        string proxy = Llm.FreeEndpoint(), admin = Llm.FreeEndpoint();
        var command = documented
            .Rewrite("https://llm-gateway.internal", gateway.BaseUri.ToString().TrimEnd('/'))
            .Rewrite("/etc/tollgate/ca.pem", pem)
            .Append("--listen", proxy, "--admin-listen", admin);
        await using var meter = ShellProcess.Start(command, _workspace.Path, Llm.MeterKeys);
        await meter.WaitUntilOkAsync(new Uri($"http://{admin}/readyz"));
        using var client = new HttpClient { BaseAddress = new Uri($"http://{proxy}") };
        using var response = await client.SendAsync(Llm.Messages(Llm.Tags("payments", "checkout", "pr-review")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TestCertificateAuthority.ServerName, gateway.Requests[^1].TlsServerName);
    }

    [Fact]
    public async Task Bad_policy_prints_the_documented_line_and_exits_1()
    {
        var block = Repo.Block("README.md", "## A sample policy, walked through", "dotnet run --project meter -- --policy budgets.yaml");

        // The README shows the error, not the file: a second document named "broken" whose period (line 10) is "fortnight".
        await File.WriteAllTextAsync(_workspace.File("budgets.yaml"), """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: fine }
            spec: { limit: { amount: 5 } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: broken }
            spec:
              limit: { amount: 5, unit: usd, period: fortnight }
            """);
        var (code, meter) = await ShellProcess.RunAsync(new ShellCommand(block.Commands[0]), _workspace.Path);
        Assert.Equal(1, code);
        Assert.Equal(string.Join('\n', block.OutputOf(block.Commands[0])).Trim(), meter.StandardError.Trim());
    }

    [Fact]
    public async Task Command_line_block_lists_the_meters_options_and_defaults()
    {
        var block = Repo.Block("README.md", "## Command line", "dotnet run --project meter -- [options]");
        var (code, help) = await ShellProcess.RunAsync(new ShellCommand(block.Lines[0].Trim()).Rewrite("[options]", "--help"), _workspace.Path);
        Assert.Equal(0, code);

        // README: "  --listen host:port   proxy endpoint (127.0.0.1:8787)", with continuation lines indented further.
        var documented = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        foreach (var line in block.Lines.Skip(1))
        {
            if (ReadmeOption().Match(line) is { Success: true } option)
            {
                current = option.Groups["name"].Value;
                documented[current] = line;
            }
            else if (current is not null)
            {
                documented[current] += " " + line.Trim();
            }
        }

        var offered = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in help.StandardOutputLines)
        {
            if (HelpOption().Match(line) is { Success: true } option && option.Groups["name"].Value is not ("--help" or "--version"))
            {
                offered[option.Groups["name"].Value] = line;
            }
        }

        Assert.Equal(offered.Keys.Order(StringComparer.Ordinal), documented.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, line) in offered)
        {
            if (HelpDefault().Match(line) is { Success: true } value)
            {
                var shown = value.Groups["value"].Value;
                var text = documented[name];
                var mebibytes = Mebibytes().Match(text);
                Assert.True(text.Contains(shown, StringComparison.Ordinal)
                    || (mebibytes.Success && long.Parse(mebibytes.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture) * 1024 * 1024 == long.Parse(shown, System.Globalization.CultureInfo.InvariantCulture)),
                    $"README documents {name} as \"{text.Trim()}\", but its default is {shown}");
            }
        }
    }

    public void Dispose() => _workspace.Dispose();

    [GeneratedRegex(@"^\s{2}(?<name>--[a-z-]+)\s")]
    private static partial Regex ReadmeOption();

    [GeneratedRegex(@"^\s+(?:-\S+,\s+)*(?<name>--[a-z-]+)(?:\s|$)")]
    private static partial Regex HelpOption();

    [GeneratedRegex(@"\[default: (?<value>[^\]]+)\]")]
    private static partial Regex HelpDefault();

    [GeneratedRegex(@"\((?<n>\d+) MiB\)")]
    private static partial Regex Mebibytes();
}
