using k8s;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

public sealed class LeaderElectionTests
{
    [Fact]
    public async Task Only_the_leader_reconciles_and_the_other_replica_takes_over_when_it_stops()
    {
        await using var cluster = await StartAsync();
        var a = await cluster.StartOperatorAsync(Options("replica-a", leaderElection: true));
        await EventuallyAsync(() => a.IsLeading, leading => leading, "replica-a to lead");
        var b = await cluster.StartOperatorAsync(Options("replica-b", leaderElection: true));

        await cluster.LabelNamespaceAsync("ci-first", metered: true);
        await EventuallyAsync(() => cluster.PolicyConfigMap("ci-first"), cm => cm is not null, "the leader's ConfigMap");

        // Well past a lease duration: b keeps campaigning but never leads or reconciles while a renews.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        while (DateTime.UtcNow < until)
        {
            Assert.False(b.IsLeading);
            await Task.Delay(50);
        }

        Assert.Equal(0, b.Reconciles);
        Assert.True(a.Reconciles > 0);
        var lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", OperatorNamespace);
        Assert.Equal("replica-a", lease.Spec.HolderIdentity);

        await a.StopAsync();
        var reconcilesOfA = a.Reconciles;
        await EventuallyAsync(() => b.IsLeading, leading => leading, "replica-b to take over");
        await cluster.LabelNamespaceAsync("ci-second", metered: true);

        await EventuallyAsync(() => cluster.PolicyConfigMap("ci-second"), cm => cm is not null, "the new leader's ConfigMap");
        Assert.True(b.Reconciles > 0);
        Assert.Equal(reconcilesOfA, a.Reconciles);
        lease = await cluster.Client.CoordinationV1.ReadNamespacedLeaseAsync("tollgate-operator", OperatorNamespace);
        Assert.Equal("replica-b", lease.Spec.HolderIdentity);
    }
}
