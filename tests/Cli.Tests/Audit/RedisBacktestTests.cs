using Tollgate.Core.Events;
using Tollgate.Core.Redis;
using Tollgate.Core.Usage;

namespace Tollgate.Cli.Tests.Audit;

public sealed class RedisBacktestTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task Backtest_reads_the_shared_usage_stream_from_a_redis_url()
    {
        var address = redis.Address + "/6";
        // Real clock: the stream's entry ids come from Redis's own clock and the command reads them by its own, so the events are dated now.
        await using (var ledger = await OwnedRedisLedger.ConnectAsync(RedisLedgerOptions.FromUrl(address), TimeProvider.System, CancellationToken.None))
        {
            var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
            for (var i = 0; i < 3; i++)
            {
                await stream.AppendAsync(new UsageEvent($"r{i}", DateTimeOffset.UtcNow, "ci", new Dictionary<string, string> { ["team"] = "payments", ["repo"] = "checkout" },
                    "openai", "gpt-4o", false, new TokenUsage(600, 100, 0, 0, 0), false, 0.01m, 1, null, "ok", 200, []), CancellationToken.None);
            }
        }

        var policy = Path.Combine(Directory.CreateTempSubdirectory("tollgate-audit-").FullName, "policy.yaml");
        await File.WriteAllTextAsync(policy, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: checkout-daily }
            spec:
              match: { subjects: ["team:payments"] }
              limit: { amount: 1000, unit: tokens, period: day }
            """);
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await CliProgram.RunAsync(["backtest", "--policy", policy, "--usage", address, "--json"], output, error, TimeProvider.System);

        Assert.Equal(0, code);
        Assert.Contains("\"events\": 3", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("\"blocked\": 1", output.ToString(), StringComparison.Ordinal);
    }
}
