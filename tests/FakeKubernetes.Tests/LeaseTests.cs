using System.Net;
using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using static Tollgate.FakeKubernetes.Tests.FakeCluster;

namespace Tollgate.FakeKubernetes.Tests;

public sealed class LeaseTests
{
    [Fact]
    public async Task Lease_renewal_with_a_stale_resource_version_conflicts_so_only_one_writer_wins()
    {
        await using var cluster = await StartAsync();
        var lease = await cluster.Client.CoordinationV1.CreateNamespacedLeaseAsync(
            new V1Lease { Metadata = new V1ObjectMeta { Name = "tollgate-operator" }, Spec = new V1LeaseSpec { HolderIdentity = "a", LeaseDurationSeconds = 15 } },
            "default");

        var copyA = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", "default");
        var copyB = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", "default");
        copyA.Spec.RenewTime = DateTime.UtcNow;
        copyB.Spec.HolderIdentity = "b";
        var renewed = await cluster.Client.CoordinationV1.ReplaceNamespacedLeaseAsync(copyA, "tollgate-operator", "default");
        var (code, _) = await FailureOf(() => cluster.Client.CoordinationV1.ReplaceNamespacedLeaseAsync(copyB, "tollgate-operator", "default"));

        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.NotEqual(lease.Metadata.ResourceVersion, renewed.Metadata.ResourceVersion);
        Assert.Equal("a", (await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", "default")).Spec.HolderIdentity);
    }

    [Fact]
    public async Task One_elector_leads_at_a_time_and_the_other_takes_over_when_the_leader_stops_renewing()
    {
        await using var cluster = await StartAsync();
        var leaders = new List<string>();
        var stoppedA = new TaskCompletionSource();
        var startedB = new TaskCompletionSource();

        LeaderElector Elector(string identity) => new(new LeaderElectionConfig(new LeaseLock(cluster.Client, "default", "tollgate-operator", identity))
        {
            LeaseDuration = TimeSpan.FromSeconds(1),
            RenewDeadline = TimeSpan.FromMilliseconds(800),
            RetryPeriod = TimeSpan.FromMilliseconds(100),
        });

        using var a = Elector("a");
        using var b = Elector("b");
        a.OnStartedLeading += () => { lock (leaders) { leaders.Add("a"); } };
        a.OnStoppedLeading += () => stoppedA.TrySetResult();
        b.OnStartedLeading += () => { lock (leaders) { leaders.Add("b"); } startedB.TrySetResult(); };

        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAndTryToHoldLeadershipForeverAsync(stopA.Token);
        await WaitUntilAsync(() => a.IsLeader());
        var runB = b.RunAndTryToHoldLeadershipForeverAsync(stopB.Token);

        // b keeps retrying while a renews: it must not lead at any moment.
        var watchUntil = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        while (DateTime.UtcNow < watchUntil)
        {
            Assert.False(b.IsLeader());
            await Task.Delay(50);
        }

        Assert.Equal("a", b.GetLeader());
        Assert.Equal("a", (await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", "default")).Spec.HolderIdentity);

        await stopA.CancelAsync();
        await stoppedA.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await startedB.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", "default");

        // Under load a may miss a renew deadline and win its own lease back; b leads only after a stopped.
        Assert.Equal("b", leaders[^1]);
        Assert.All(leaders[..^1], l => Assert.Equal("a", l));
        Assert.Equal("b", lease.Spec.HolderIdentity);
        Assert.Equal(1, lease.Spec.LeaseTransitions);
        Assert.Equal(1, lease.Spec.LeaseDurationSeconds);

        await stopB.CancelAsync();
        await Task.WhenAll(runA, runB).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 5 s");
            await Task.Delay(20);
        }
    }
}
