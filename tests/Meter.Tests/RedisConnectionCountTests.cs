using System.Net;
using StackExchange.Redis;
using Tollgate.Core.Redis;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;
using Xunit.Abstractions;

namespace Tollgate.Meter.Tests;

/// <summary>
/// A meter on a Redis ledger with budgets, rate limits and the usage stream all in use holds one Redis connection: what
/// the server itself reports in <c>CLIENT LIST</c>, not what the code is meant to do.
/// </summary>
public sealed class RedisConnectionCountTests(UpstreamFixture fixture, RedisServerFixture redis, ITestOutputHelper output)
    : IClassFixture<UpstreamFixture>, IClassFixture<RedisServerFixture>
{
    private const string InspectorName = "test-inspector";

    private const string Policy = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: review-pacing, namespace: ci-payments }
        spec:
          match: { metadata: { agent_step: review } }
          limits: { requestsPerMinute: 100, tokensPerMinute: 100000 }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: daily }
        spec: { limit: { amount: 1000000, unit: tokens, period: day } }
        """;

    [Fact]
    public async Task Meter_with_ledger_rate_limits_and_usage_stream_holds_one_redis_connection()
    {
        await using var inspector = await InspectAsync();
        var server = inspector.GetServer(redis.Endpoint);
        Assert.Empty(Clients(await ClientListAsync(server), RedisConnection.ClientName));

        await using (var meter = await MeterHarness.StartAsync(fixture.Upstream, Policy, configure: o => o with { Ledger = redis.Address, SpoolPath = o.Ledger + ".spool" }))
        {
            const int Requests = 8;
            await Task.WhenAll(Enumerable.Range(0, Requests).Select(async _ =>
            {
                using var response = await meter.SendAsync(MeterHarness.Request(
                    "/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "review"), ("x-fake-usage", "input=10,output=20")));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }));

            // Every user of the connection did its work on it: the ledger's counter, the limiter's windows, the stream's events.
            var database = inspector.GetDatabase();
            var prefix = RedisLedgerOptions.DefaultKeyPrefix;
            Assert.Equal(Requests, (long)await database.StreamLengthAsync(prefix + "usage"));
            Assert.NotEmpty(server.Keys(pattern: prefix + "rl:*"));
            Assert.NotEmpty(server.Keys(pattern: prefix + "c:*"));

            var list = await ClientListAsync(server);
            output.WriteLine(list);
            var meterClients = Clients(list, RedisConnection.ClientName);

            // One socket, which ran the scripts. StackExchange.Redis opens a second, pub/sub socket per multiplexer for its
            // configuration channel (the inspector's own shows it, and proves this count would see one); the meter's
            // connection turns that channel off (least privilege), so it has none.
            var meterClient = Assert.Single(meterClients);
            Assert.Equal(("N", "0", "0"), (meterClient["flags"], meterClient["sub"], meterClient["psub"]));
            Assert.Single(Clients(list, InspectorName), c => c["flags"] == "P" && c["sub"] == "1");
        }

        // Disposing the meter closes its connection: nothing is left open on the server.
        Assert.Empty(Clients(await ClientListAsync(server), RedisConnection.ClientName));
    }

    // Over RESP3 the reply is a verbatim string, which the client hands over with its "txt:" format prefix.
    private static async Task<string> ClientListAsync(IServer server)
    {
        var list = (string)(await server.ExecuteAsync("CLIENT", "LIST"))!;
        return list.StartsWith("txt:", StringComparison.Ordinal) ? list[4..] : list;
    }

    /// <summary>The fields of every client with this name, one dictionary per <c>CLIENT LIST</c> line.</summary>
    private static List<Dictionary<string, string>> Clients(string list, string name) =>
        [.. list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ').Select(field => field.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal))
            .Where(fields => fields.GetValueOrDefault("name") == name)];

    private async Task<ConnectionMultiplexer> InspectAsync()
    {
        var options = ConfigurationOptions.Parse(redis.Endpoint);
        options.ClientName = InspectorName;
        options.AllowAdmin = true;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }
}
