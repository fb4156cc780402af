using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;

namespace Tollgate.Meter.Tests;

/// <summary>
/// The sidecar runs in every metered CI pod, so it carries only what a sidecar needs: the offline tools (cli/) and
/// their dependencies stay out of the meter's binary and of the packages it ships with.
/// </summary>
public sealed class SidecarDependencyTests
{
    private static readonly string[] OfflinePackages = ["Spectre.Console", "Microsoft.Extensions.TimeProvider.Testing"];

    [Fact]
    public void Meter_ships_without_the_offline_tools_packages()
    {
        // The deps file dotnet reads when it starts Tollgate.Meter.dll: every package and project the meter loads.
        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Tollgate.Meter.deps.json")));
        var libraries = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).ToList();

        Assert.Contains("Yarp.ReverseProxy", libraries);
        Assert.Contains("Tollgate.Core", libraries);
        Assert.DoesNotContain(libraries, IsOffline);
    }

    [Fact]
    public void Meter_assembly_references_none_of_the_offline_tools_assemblies()
    {
        using var stream = File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Tollgate.Meter.dll"));
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        var references = metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).ToList();

        Assert.Contains("Tollgate.Core", references);
        Assert.DoesNotContain(references, IsOffline);
    }

    /// <summary>The offline tools' own assembly (<c>tollgate</c>) or one of the packages only they use.</summary>
    private static bool IsOffline(string name) =>
        name == "tollgate" || OfflinePackages.Any(package => name.StartsWith(package, StringComparison.OrdinalIgnoreCase));
}
