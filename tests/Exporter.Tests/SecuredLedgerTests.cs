using System.Net;
using Tollgate.Core.Events;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>
/// Issue 16: the exporter against a Redis with the shipped ACL users and TLS only. With its own user it consumes the
/// usage stream; with the meter's it is refused the stream and never turns ready.
/// </summary>
public sealed class SecuredLedgerTests(SecuredRedisServerFixture secured) : IClassFixture<SecuredRedisServerFixture>
{
    private RedisServerFixture Redis => secured.Server;

    [Fact]
    public async Task Exporter_with_its_own_user_over_tls_consumes_the_stream_and_is_ready()
    {
        var address = ExporterHarness.Db(Redis, 5);
        await AppendAsync(address, "a", "b");

        await using var exporter = await StartAsync(address, "tollgate-exporter");
        var scrape = await exporter.ScrapeWhenAsync(2);

        Assert.Equal(2, scrape.Sum("tollgate_exporter_events_total"));
        Assert.Equal(1, scrape.Sum("tollgate_ledger_ready"));
        Assert.Equal(HttpStatusCode.OK, (await exporter.Client.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task Exporter_with_the_meters_user_is_refused_the_stream_and_not_ready()
    {
        var address = ExporterHarness.Db(Redis, 6);
        await AppendAsync(address, "c");
        Assert.Equal("+OK", await Redis.SendAsync("ACL", "LOG", "RESET"));

        await using var exporter = await StartAsync(address, "tollgate-meter");

        // The consumer's first move, creating its group, is what the meter's user may not do: wait until Redis refused it.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(await Redis.AclDenialsAsync()).Any(d => d.StartsWith("tollgate-meter: command xgroup|create", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the exporter never tried to create its consumer group");
            await Task.Delay(50);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await exporter.Client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(0, new MetricsScrape(await exporter.Client.GetStringAsync("/metrics")).Sum("tollgate_exporter_events_total"));
    }

    private async Task AppendAsync(string address, params string[] ids)
    {
        var options = new RedisLedgerSettings(address, "tollgate-meter", Redis.WritePasswordFile("tollgate-meter"), Redis.Tls ? Redis.WriteCaFile() : null)
            .ToOptions(RedisLedgerAccess.ReadWrite);
        // Real clock, like the exporter that reads these events: they are dated now.
        await using var meter = await OwnedRedisLedger.ConnectAsync(options, TimeProvider.System, CancellationToken.None);
        var stream = new RedisUsageStream(meter.Connection, new UsageStreamOptions(), TimeProvider.System);
        foreach (var id in ids)
        {
            await stream.AppendAsync(ExporterHarness.Event(id, DateTimeOffset.UtcNow), CancellationToken.None);
        }
    }

    private Task<ExporterHarness> StartAsync(string address, string user) =>
        ExporterHarness.StartAsync(address, configure: o => o with
        {
            LedgerUser = user,
            LedgerPasswordFile = Redis.WritePasswordFile(user),
            LedgerCaPath = Redis.Tls ? Redis.WriteCaFile() : null,
        });
}
