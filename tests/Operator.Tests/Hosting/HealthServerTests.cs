using System.Net;
using Tollgate.Operator.Hosting;
using Tollgate.Operator.KeyBroker;
using Tollgate.Operator.Tests.Controllers;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Hosting;

public sealed class HealthServerTests
{
    [Fact]
    public async Task Readiness_waits_for_synced_caches_and_a_webhook_certificate_but_not_for_leadership()
    {
        await using var cluster = await OperatorCluster.StartAsync();
        await using var host = await cluster.StartOperatorAsync(OperatorCluster.Options("replica-a"));
        var certificateLoaded = false;
        var port = LocalMachine.FreeLoopbackPort();
        await using var health = HealthServer.Create("127.0.0.1", port, host, () => certificateLoaded);
        await health.StartAsync(CancellationToken.None);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await host.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        using (var notReady = await client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
            Assert.Equal("webhook certificate not loaded yet\n", await notReady.Content.ReadAsStringAsync());
        }

        certificateLoaded = true;
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        var metrics = new MetricsScrape(await client.GetStringAsync("/metrics"));
        Assert.Equal(host.IsLeading ? 1 : 0, metrics.Sum("tollgate_operator_leader"));
        Assert.True(metrics.Has("tollgate_operator_reconciles_total"));
    }

    [Fact]
    public async Task Metrics_count_key_broker_requests_by_outcome()
    {
        await using var cluster = await OperatorCluster.StartAsync();
        await using var host = await cluster.StartOperatorAsync(OperatorCluster.Options("replica-a"));
        var broker = new KeyBrokerMetrics();
        var port = LocalMachine.FreeLoopbackPort();
        await using var health = HealthServer.Create("127.0.0.1", port, host, () => true, broker);
        await health.StartAsync(CancellationToken.None);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        broker.Count(BrokerOutcome.Issued);
        broker.Count(BrokerOutcome.Issued);
        broker.Count(BrokerOutcome.Forbidden);
        var text = await client.GetStringAsync("/metrics");

        Assert.Contains("# TYPE tollgate_operator_key_broker_requests_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("tollgate_operator_key_broker_requests_total{outcome=\"issued\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("tollgate_operator_key_broker_requests_total{outcome=\"forbidden\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("tollgate_operator_key_broker_requests_total{outcome=\"unavailable\"} 0\n", text, StringComparison.Ordinal);
    }
}
