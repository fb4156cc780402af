namespace Tollgate.Meter.Tests.Support;

/// <summary>Finds files of the repository from the test output folder.</summary>
internal static class RepositoryPaths
{
    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Operator.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Operator.sln not found above the test directory");
    }
}
