namespace Tollgate.Docs.Tests.Running;

/// <summary>A temporary folder removed with its contents.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tollgate-docs-out-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a process that is exiting; the temp folder is cleaned by the OS eventually.
        }
    }
}
