using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Configuration;
using Tollgate.Operator.CommandLine;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Hosting;

/// <summary>The operator's command line, run as the process the image runs (<c>dotnet Tollgate.Operator.dll</c>).</summary>
public sealed class OperatorCommandLineTests
{
    [Fact]
    public async Task Help_exits_0_and_names_every_flag_and_the_subcommand()
    {
        var (exitCode, stdout, _) = await RunAsync(["--help"]);

        Assert.Equal(0, exitCode);
        foreach (var flag in new[] { "--ledger", "--namespace", "--metrics-listen", "--webhook-listen", "--leader-election", "--lease-name", "--identity", "--webhook-service", "--webhook-secret", "--webhook-configuration", "--sidecar-image", "--sidecar-key-source", "--sidecar-ledger", "--ledger-user", "--ledger-password-file", "--ledger-ca", "--ledger-cert", "--ledger-key", "generate-crds" })
        {
            Assert.Contains(flag, stdout, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("broker", SidecarKeySource.Broker)]
    [InlineData("secret", SidecarKeySource.Secret)]
    public void Sidecar_key_source_flag_sets_the_sidecar_setting(string flag, SidecarKeySource expected)
    {
        var (settings, error) = OperatorCommandLine.Settings(OperatorCommandLine.Command.Parse(["--sidecar-key-source", flag]));

        Assert.Null(error);
        var options = new ConfigurationBuilder().AddInMemoryCollection(settings!).Build().GetSection(SidecarOptions.SectionName).Get<SidecarOptions>()!;
        Assert.Equal(expected, options.KeySource);
    }

    [Fact]
    public async Task Generate_crds_has_its_own_help()
    {
        var (exitCode, stdout, _) = await RunAsync(["generate-crds", "--help"]);

        Assert.Equal(0, exitCode);
        Assert.Contains("generate-crds [<directory>]", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("--ledger", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "tollgate-operator: --ledger: required (redis://host:port[/db]; or env Tollgate__Ledger__Address)")]
    [InlineData(new[] { "--frobnicate" }, "tollgate-operator: Unrecognized command or argument '--frobnicate'.")]
    [InlineData(new[] { "--Tollgate:Ledger:Address=redis://127.0.0.1:6379" }, "tollgate-operator: Unrecognized command or argument '--Tollgate:Ledger:Address=redis://127.0.0.1:6379'.")]
    [InlineData(new[] { "--ledger", "redis://x:abc" }, "tollgate-operator: --ledger: 'redis://x:abc' is not a valid Redis ledger address: the port 'abc' is not a number from 1 to 65535; expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS.")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--sidecar-ledger", "redis://tollgate-meter:s3cret@x" }, "tollgate-operator: --sidecar-ledger: redis://tollgate-meter:***@x holds a password, which would be written into every injected pod's spec; give the meter's credentials as a Secret instead")]
    [InlineData(new[] { "--ledger", "redis://tollgate-operator:s3cret@x:abc" }, "tollgate-operator: --ledger: 'redis://tollgate-operator:***@x:abc' is not a valid Redis ledger address: the port 'abc' is not a number from 1 to 65535; expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS.")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--sidecar-ledger", "http://x" }, "tollgate-operator: --sidecar-ledger: 'http://x' is not a valid Redis ledger address: the scheme must be redis:// or rediss://, not http://; expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS.")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--metrics-listen", "8080" }, "tollgate-operator: --metrics-listen: expected host:port, e.g. 127.0.0.1:8787 (got \"8080\")")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--webhook-listen", "0.0.0.0:99999" }, "tollgate-operator: --webhook-listen: the port must be a number from 0 to 65535 (got \"99999\")")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--leader-election", "yes" }, "tollgate-operator: --leader-election: expected true or false (got \"yes\")")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--lease-name", " " }, "tollgate-operator: --lease-name: must not be empty")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--identity" }, "tollgate-operator: Required argument missing for option: '--identity'.")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--sidecar-key-source", "vault" }, "tollgate-operator: --sidecar-key-source: expected broker or secret (got \"vault\")")]
    [InlineData(new[] { "generate-crds", "a", "b" }, "tollgate-operator: Unrecognized command or argument 'b'.")]
    public async Task Bad_invocation_exits_2_with_one_line_naming_the_flag(string[] args, string expected)
    {
        var (exitCode, stdout, stderr) = await RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Equal(expected, stderr.TrimEnd('\n'));
        Assert.Empty(stdout);
    }

    [Theory]
    [InlineData("Tollgate__Ledger__Address", "redis://x:abc", "tollgate-operator: Tollgate__Ledger__Address: 'redis://x:abc' is not a valid Redis ledger address: the port 'abc' is not a number from 1 to 65535; expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS.")]
    [InlineData("Tollgate__LeaderElection__Enabled", "yes", "tollgate-operator: environment: Failed to convert configuration value 'yes' at 'Tollgate:LeaderElection:Enabled' to type 'System.Boolean'.")]
    public async Task Bad_setting_from_the_environment_exits_1_naming_it(string variable, string value, string expected)
    {
        var (exitCode, _, stderr) = await RunAsync(["--namespace", "tollgate-system"], new() { [variable] = value, ["Tollgate__Ledger__Address"] = variable == "Tollgate__Ledger__Address" ? value : "redis://127.0.0.1:6379" });

        Assert.Equal(1, exitCode);
        Assert.Equal(expected, stderr.TrimEnd('\n'));
    }

    [Fact]
    public async Task Generate_crds_into_an_unwritable_place_exits_1()
    {
        var file = Path.GetTempFileName();
        try
        {
            var (exitCode, _, stderr) = await RunAsync(["generate-crds", Path.Combine(file, "crds")]);

            Assert.Equal(1, exitCode);
            Assert.StartsWith($"tollgate-operator generate-crds: {Path.Combine(file, "crds")}: ", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };

        // The test run's own settings must not leak into the operator under test.
        foreach (var inherited in start.Environment.Keys.Where(k => k.StartsWith("Tollgate__", StringComparison.OrdinalIgnoreCase) || k is "KUBECONFIG" or "KUBERNETES_SERVICE_HOST").ToList())
        {
            start.Environment.Remove(inherited);
        }

        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tollgate.Operator.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Each of these invocations should end at once; one that runs on is a failure, and is not left behind.
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
