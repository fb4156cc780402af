using Tollgate.Docs.Tests.Markdown;

namespace Tollgate.Docs.Tests.Running;

/// <summary>The repository under test and the binaries its README's <c>dotnet run --project …</c> commands start.</summary>
public static class Repo
{
    public static string Root { get; } = RepositoryPaths.Root();

    /// <summary>Release or Debug: the configuration this test assembly was built in, so the binaries next to it are current.</summary>
    public static string Configuration { get; } = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;

    /// <summary>
    /// What <c>dotnet run --project meter</c> builds and starts. Running the built assembly with the same arguments saves a
    /// build check per command (seconds each on two cores); the solution build before the tests made it current.
    /// </summary>
    public static string MeterDll => Binary("meter", "Tollgate.Meter.dll");

    public static string ExporterDll => Binary("exporter", "Tollgate.Exporter.dll");

    /// <summary>What <c>dotnet run --project cli</c> builds and starts: <c>tollgate</c>, the offline tools.</summary>
    public static string CliDll => Binary("cli", "tollgate.dll");

    /// <summary>The documented block with this identity, as the README has it now.</summary>
    public static FencedBlock Block(string file, string heading, string firstLine) =>
        MarkdownBlocks.Read(Root, file).SingleOrDefault(b => b.MayHoldCommands && b.Heading == heading && b.FirstLine == firstLine)
        ?? throw new InvalidOperationException($"{file} has no block under \"{heading}\" starting with: {firstLine}");

    private static string Binary(string project, string file)
    {
        var path = Path.Combine(Root, project, "bin", Configuration, "net10.0", file);
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: build the solution first (dotnet build Operator.sln -c {Configuration})");
    }
}
