using System.Diagnostics;
using System.Text.Json.Nodes;
using Tollgate.Core.Serialization;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests;

/// <summary>Runs the real <c>kubectl kustomize</c> on a folder of the repository.</summary>
internal static class Kubectl
{
    /// <summary>The rendered YAML.</summary>
    public static async Task<string> KustomizeTextAsync(string directory)
    {
        // Building with the real tool is the point of these tests, so a missing kubectl fails them instead of skipping.
        var kubectl = KustomizeTool.KubectlPath;
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

    /// <summary>The rendered objects.</summary>
    public static async Task<List<JsonObject>> KustomizeAsync(string directory) =>
        [.. YamlJsonConverter.Parse(await KustomizeTextAsync(directory)).Select(d => Assert.IsType<JsonObject>(d.Root))];
}
