namespace Tollgate.Cli.Tests;

/// <summary>What makes ./test.sh build the offline tools and run these tests: it builds and tests the solution.</summary>
public sealed class TestScriptTests
{
    [Fact]
    public void Solution_that_test_script_runs_lists_the_cli_and_its_tests()
    {
        var solution = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "Operator.sln"));
        Assert.Contains(@"""cli\Cli.csproj""", solution, StringComparison.Ordinal);
        Assert.Contains(@"""tests\Cli.Tests\Cli.Tests.csproj""", solution, StringComparison.Ordinal);

        var script = File.ReadAllLines(Path.Combine(RepositoryPaths.Root(), "test.sh"));
        Assert.Contains(script, l => l.Contains("dotnet build Operator.sln -c Release", StringComparison.Ordinal));
        Assert.Contains(script, l => l.TrimStart().StartsWith("dotnet test Operator.sln -c Release --no-build", StringComparison.Ordinal));
    }
}
