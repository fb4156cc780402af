namespace Tollgate.Docs.Tests.Running;

/// <summary>
/// A fresh working directory standing in for a clone's root: <c>config/</c> and the built <c>meter/</c>, <c>exporter/</c> and <c>cli/</c>
/// are linked in, so relative paths in the README resolve, and whatever a command writes lands here, not in the repository.
/// </summary>
public sealed class Workspace : IDisposable
{
    private static readonly string[] Linked = ["config", "meter", "exporter", "cli"];

    public Workspace()
    {
        Path = Directory.CreateTempSubdirectory("tollgate-docs-").FullName;
        foreach (var name in Linked)
        {
            Directory.CreateSymbolicLink(System.IO.Path.Combine(Path, name), System.IO.Path.Combine(Repo.Root, name));
        }
    }

    public string Path { get; }

    public string File(string relative) => System.IO.Path.Combine(Path, relative);

    /// <summary>What commands created here (the linked folders left out), as paths relative to the workspace.</summary>
    public IReadOnlyList<string> Created() =>
        [.. Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(Path, p).Replace('\\', '/'))
            .Where(p => !Linked.Any(l => p == l || p.StartsWith(l + "/", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)];

    public void Dispose()
    {
        try
        {
            // Links first, so deleting the tree never follows them into the repository.
            foreach (var name in Linked)
            {
                Directory.Delete(System.IO.Path.Combine(Path, name));
            }

            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a process that is exiting; the temp folder is cleaned by the OS eventually.
        }
    }
}
