using System.Text.RegularExpressions;
using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>config/opencost/README.md: the exporter started the ways OpenCost and a person start the plugin.</summary>
public sealed partial class OpenCostPluginTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private const string File = "config/opencost/README.md";
    private static readonly TimeSpan Handshake = TimeSpan.FromSeconds(30);
    private readonly Workspace _workspace = new();

    [Fact]
    public async Task OpenCost_launch_line_starts_the_installed_script_as_a_plugin()
    {
        var block = Repo.Block(File, "## How OpenCost runs it", "PLUGIN_NAME=tollgate $PLUGIN_EXECUTABLE_DIR/tollgate.ocplugin.linux.amd64 $PLUGIN_CONFIG_DIR/tollgate_config.json");

        // "tollgate.ocplugin.sh installed as tollgate.ocplugin.linux.amd64 is enough" where the exporter's files are (TOLLGATE_HOME).
        var bin = Directory.CreateDirectory(_workspace.File("plugin/bin")).FullName;
        var config = Directory.CreateDirectory(_workspace.File("plugin/config")).FullName;
        var executable = Path.Combine(bin, "tollgate.ocplugin.linux.amd64");
        System.IO.File.Copy(Path.Combine(Repo.Root, "config/opencost/tollgate.ocplugin.sh"), executable);
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(executable, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        await System.IO.File.WriteAllTextAsync(Path.Combine(config, "tollgate_config.json"), $$"""{"ledger": "{{redis.Address}}/0", "currency": "USD"}""");

        await using var plugin = ShellProcess.Start(new ShellCommand(block.Commands[0]), _workspace.Path, new Dictionary<string, string>
        {
            ["PLUGIN_EXECUTABLE_DIR"] = bin,
            ["PLUGIN_CONFIG_DIR"] = config,
            ["TOLLGATE_HOME"] = Path.GetDirectoryName(Repo.ExporterDll)!,
        });
        await AssertServesAndLeavesWithTheHostAsync(plugin);
    }

    [Fact]
    public async Task Plugin_by_hand_prints_the_handshake_and_refuses_without_the_cookie()
    {
        var block = Repo.Block(File, "## How OpenCost runs it", "PLUGIN_NAME=tollgate dotnet exporter/bin/Release/net10.0/Tollgate.Exporter.dll opencost-plugin config/opencost/tollgate_config.json");
        var command = new ShellCommand(block.Commands[0]);

        // As written, from a clone's root: the shipped config names the cluster's Redis, which only a cost query needs.
        await using (var plugin = ShellProcess.Start(command, _workspace.Path))
        {
            await AssertServesAndLeavesWithTheHostAsync(plugin);
        }

        // Step 1 of "It then": without the magic cookie, go-plugin's notice on stderr and exit 1.
        var (code, refused) = await ShellProcess.RunAsync(command.Rewrite("PLUGIN_NAME=tollgate ", string.Empty), _workspace.Path);
        Assert.Equal(1, code);
        Assert.Contains("This binary is a plugin. These are not meant to be executed directly.", refused.StandardError, StringComparison.Ordinal);
        Assert.Empty(refused.StandardOutput);
    }

    [Fact]
    public async Task Renamed_executable_is_the_plugin_with_the_config_as_its_only_argument()
    {
        var block = Repo.Block(File, "## Install", "dotnet publish exporter/Exporter.csproj -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true -o out");

        // Stand-in for the self-contained publish: the Release build's apphost as out/Tollgate.Exporter, beside the assemblies it loads.
        var built = Path.GetDirectoryName(Repo.ExporterDll)!;
        var output = Directory.CreateDirectory(_workspace.File("out")).FullName;
        foreach (var file in Directory.GetFiles(built).Where(f => Path.GetFileName(f) != "Tollgate.Exporter"))
        {
            System.IO.File.CreateSymbolicLink(Path.Combine(output, Path.GetFileName(file)), file);
        }

        System.IO.File.Copy(Path.Combine(built, "Tollgate.Exporter"), Path.Combine(output, "Tollgate.Exporter"));
        var (moved, mv) = await ShellProcess.RunAsync(new ShellCommand(block.Commands[1]), _workspace.Path);
        Assert.True(moved == 0, mv.StandardError);

        // OpenCost's launch: the config path as the only argument, the cookie in the environment.
        var config = _workspace.File("tollgate_config.json");
        await System.IO.File.WriteAllTextAsync(config, $$"""{"ledger": "{{redis.Address}}/0"}""");
        await using var plugin = ShellProcess.Start(new ShellCommand($"PLUGIN_NAME=tollgate out/tollgate.ocplugin.linux.amd64 {config}"), _workspace.Path, new Dictionary<string, string>
        {
            // The apphost finds the runtime the way it would in OpenCost's image: DOTNET_ROOT.
            ["DOTNET_ROOT"] = Path.GetDirectoryName(new FileInfo(LocalMachine.FindOnPath("dotnet")!).ResolveLinkTarget(returnFinalTarget: true)?.FullName
                ?? LocalMachine.FindOnPath("dotnet")!)!,
        });
        await AssertServesAndLeavesWithTheHostAsync(plugin);
    }

    public void Dispose() => _workspace.Dispose();

    /// <summary>Steps 4 and 5: one handshake line on stdout, then it runs until its host's stdin pipe closes.</summary>
    private static async Task AssertServesAndLeavesWithTheHostAsync(ShellProcess plugin)
    {
        var handshake = await plugin.WaitForOutputLineAsync(_ => true, Handshake);
        Assert.Matches(HandshakeLine(), handshake);
        Assert.False(plugin.HasExited);
        plugin.CloseInput();
        Assert.Equal(0, await plugin.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal([handshake], plugin.StandardOutputLines);
    }

    [GeneratedRegex(@"^1\|1\|tcp\|127\.0\.0\.1:\d+\|grpc$")]
    private static partial Regex HandshakeLine();
}
