using System.Diagnostics;
using System.Text.Json.Nodes;
using Tollgate.Core.Serialization;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Crds;

public sealed class CrdKustomizeTests
{
    [Fact]
    public async Task Kubectl_kustomize_builds_both_crds_with_scope_status_and_columns()
    {
        var output = await KustomizeAsync(CrdFiles.Directory);

        var crds = YamlJsonConverter.Parse(output).Select(d => Assert.IsType<JsonObject>(d.Root)).ToList();

        Assert.Equal(2, crds.Count);
        Assert.All(crds, crd => Assert.Equal("CustomResourceDefinition", crd["kind"]!.GetValue<string>()));
        var byKind = crds.ToDictionary(c => c["spec"]!["names"]!["kind"]!.GetValue<string>(), StringComparer.Ordinal);
        Assert.Equal("Cluster", byKind["AiBudget"]["spec"]!["scope"]!.GetValue<string>());
        Assert.Equal("Namespaced", byKind["AiRoutingRule"]["spec"]!["scope"]!.GetValue<string>());
        foreach (var crd in crds)
        {
            var version = crd["spec"]!["versions"]![0]!;
            Assert.NotNull(version["subresources"]?["status"]);
            Assert.NotNull(version["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]);
        }

        Assert.Equal(
            ["Limit", "Spent", "Used", "Forecast", "State", "Unit", "Period", "Enforcement", "Ready", "Age"],
            byKind["AiBudget"]["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
        Assert.Equal(
            ["Priority", "Provider", "Model", "Fallback", "Ready", "Age"],
            byKind["AiRoutingRule"]["spec"]!["versions"]![0]!["additionalPrinterColumns"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
    }

    private static async Task<string> KustomizeAsync(string directory)
    {
        // A missing kubectl fails the test with what to do: checking the real tool is the point, so it is never skipped.
        var kubectl = FindOnPath("kubectl") ?? throw new InvalidOperationException("kubectl is not on PATH: apt-get install kubernetes-client");
        var start = new ProcessStartInfo(kubectl)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryPaths.Root(),
        };
        start.ArgumentList.Add("kustomize");
        start.ArgumentList.Add(directory);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("kubectl did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);

        Assert.True(process.ExitCode == 0, $"kubectl kustomize {directory} exited with {process.ExitCode}:\n{await stderr}");
        return await stdout;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
