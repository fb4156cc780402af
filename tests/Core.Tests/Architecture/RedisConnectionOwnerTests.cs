using System.Reflection;
using Tollgate.Core.Redis;

namespace Tollgate.Core.Tests.Architecture;

/// <summary>
/// One type opens Redis connections: <see cref="RedisConnection"/>. The ledger, the usage stream, the usage writer and
/// the rate limiter take one, so a process holds one multiplexer, configured once (address, credentials, TLS, fail-fast,
/// least-privilege options), and no process opens a second one beside it.
/// </summary>
public sealed class RedisConnectionOwnerTests
{
    private const string Multiplexer = "StackExchange.Redis.ConnectionMultiplexer";

    private static readonly HashSet<string> Connects = ["Connect", "ConnectAsync", "SentinelConnect", "SentinelConnectAsync"];

    [Fact]
    public void Only_the_redis_connection_opens_a_redis_connection_in_core()
    {
        var callers = CallSites.Callers(typeof(RedisConnection).Assembly.Location, Multiplexer, Connects);

        Assert.Equal([typeof(RedisConnection).FullName!], callers);
    }

    [Theory]
    [InlineData("Tollgate.Meter.dll")]
    [InlineData("Tollgate.Exporter.dll")]
    [InlineData("Tollgate.Operator.dll")]
    [InlineData("tollgate.dll")]
    public void No_process_opens_a_redis_connection_of_its_own(string assembly)
    {
        var path = ProcessAssembly(assembly);

        var callers = CallSites.Callers(path, Multiplexer, Connects);

        Assert.Empty(callers);
    }

    [Fact]
    public void The_processes_connect_through_the_redis_connection()
    {
        // The reader must see the processes' calls of RedisConnection.ConnectAsync, or the test above proves nothing.
        var connect = new HashSet<string> { nameof(RedisConnection.ConnectAsync) };

        Assert.Contains("Tollgate.Meter.Hosting.MeterApp", CallSites.Callers(ProcessAssembly("Tollgate.Meter.dll"), typeof(RedisConnection).FullName!, connect));
        Assert.Contains("Tollgate.Exporter.Hosting.ExporterApp", CallSites.Callers(ProcessAssembly("Tollgate.Exporter.dll"), typeof(RedisConnection).FullName!, connect));
        Assert.Contains("Tollgate.Operator.Hosting.PendingLedger", CallSites.Callers(ProcessAssembly("Tollgate.Operator.dll"), typeof(RedisConnection).FullName!, connect));
        Assert.Contains("Tollgate.Cli.Audit.UsageSource", CallSites.Callers(ProcessAssembly("tollgate.dll"), typeof(RedisConnection).FullName!, connect));
    }

    [Fact]
    public void A_call_inside_a_lambda_or_async_method_counts_for_its_declaring_type()
    {
        var callers = CallSites.Callers(typeof(RedisConnectionOwnerTests).Assembly.Location, Multiplexer, Connects);

        // This assembly's tests open their own inspector connections inside async methods; the reader must see them.
        Assert.Contains(typeof(Events.RedisUsageStreamTests).FullName!, callers);
        Assert.DoesNotContain(typeof(RedisConnectionOwnerTests).FullName!, callers);
    }

    /// <summary>A process's assembly as this build left it (Core.Tests.csproj builds the processes and names the paths).</summary>
    private static string ProcessAssembly(string fileName)
    {
        var paths = typeof(RedisConnectionOwnerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Where(a => a.Key == "ProcessAssembly")
            .Select(a => Path.GetFullPath(a.Value!))
            .ToList();
        var path = Assert.Single(paths, p => Path.GetFileName(p) == fileName);
        Assert.True(File.Exists(path), $"{path} is missing: build tests/Core.Tests, which builds the processes first");
        return path;
    }
}
