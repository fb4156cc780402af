namespace Tollgate.TestSupport;

/// <summary>Finds files of the repository from a test's output folder.</summary>
public static class RepositoryPaths
{
    /// <summary>The folder holding <c>Operator.sln</c>, searched upwards from the running test assembly.</summary>
    public static string Root()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Operator.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Operator.sln not found above the test directory");
    }
}
