using System.Text;
using k8s;
using k8s.Models;
using Tollgate.Operator.Webhooks;
using static Tollgate.Operator.Tests.Controllers.OperatorCluster;

namespace Tollgate.Operator.Tests.Controllers;

/// <summary>The tollgate-ca ConfigMap: the operator's CA where the broker-mode meter's projected volume reads it.</summary>
public sealed class CaConfigMapControllerTests
{
    private const string Name = "tollgate-ca";

    private static async Task<(OperatorCluster Cluster, string Bundle)> ClusterWithCaAsync()
    {
        var cluster = await StartAsync();
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", OperatorNamespace, TimeProvider.System);
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(
            new V1Secret { Metadata = new V1ObjectMeta { Name = "tollgate-webhook-tls" }, Type = "kubernetes.io/tls", Data = certificate.ToSecretData() },
            OperatorNamespace);
        return (cluster, certificate.CaBundlePem);
    }

    private static string? Ca(OperatorCluster cluster, string ns) => cluster.Api.Get("", "v1", "configmaps", ns, Name)?["data"]?["ca.crt"]?.GetValue<string>();

    [Fact]
    public async Task Metered_namespaces_and_the_operators_own_get_the_ca_bundle_and_others_do_not()
    {
        var (cluster, bundle) = await ClusterWithCaAsync();
        await using var _ = cluster;
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await cluster.LabelNamespaceAsync("ci-other", metered: false);
        await cluster.StartOperatorAsync();

        await EventuallyAsync(() => Ca(cluster, "ci-payments"), ca => ca == bundle, "the CA in ci-payments");
        await EventuallyAsync(() => Ca(cluster, OperatorNamespace), ca => ca == bundle, "the CA in tollgate-system");

        Assert.Null(cluster.Api.Get("", "v1", "configmaps", "ci-other", Name));
        Assert.Equal("tollgate-operator", cluster.Api.Get("", "v1", "configmaps", "ci-payments", Name)!["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_namespace_that_stops_being_metered_loses_the_ca_but_not_a_same_named_configmap_of_its_own()
    {
        var (cluster, bundle) = await ClusterWithCaAsync();
        await using var _ = cluster;
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        await cluster.LabelNamespaceAsync("ci-own", metered: false);
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = Name }, Data = new Dictionary<string, string> { ["ca.crt"] = "theirs" } }, "ci-own");
        await cluster.StartOperatorAsync();
        await EventuallyAsync(() => Ca(cluster, "ci-payments"), ca => ca == bundle, "the CA in ci-payments");

        // ci-own's change is queued first, so it has been reconciled by the time ci-payments' is.
        await cluster.LabelNamespaceAsync("ci-own", metered: false, new() { ["touched"] = "yes" });
        await cluster.LabelNamespaceAsync("ci-payments", metered: false);

        await EventuallyAsync(() => cluster.Api.Get("", "v1", "configmaps", "ci-payments", Name), cm => cm is null, "the CA deleted from ci-payments");
        Assert.Equal("theirs", Ca(cluster, "ci-own"));
    }

    [Fact]
    public async Task A_ca_renewed_by_another_replica_reaches_every_namespace_at_the_next_periodic_check()
    {
        var (cluster, bundle) = await ClusterWithCaAsync();
        await using var _ = cluster;
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        var options = Options();
        options.CaResyncInterval = TimeSpan.FromMilliseconds(300);
        await cluster.StartOperatorAsync(options);
        await EventuallyAsync(() => Ca(cluster, "ci-payments"), ca => ca == bundle, "the first CA");

        var renewed = await RenewAsync(cluster);

        await EventuallyAsync(() => (Ca(cluster, OperatorNamespace), Ca(cluster, "ci-payments")), c => c == (renewed, renewed), "the renewed CA everywhere");
    }

    [Fact]
    public async Task A_ca_this_replica_loads_is_republished_at_once()
    {
        var (cluster, bundle) = await ClusterWithCaAsync();
        await using var _ = cluster;
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        var options = Options();
        options.CaResyncInterval = TimeSpan.FromHours(1);
        var host = await cluster.StartOperatorAsync(options);
        await EventuallyAsync(() => Ca(cluster, "ci-payments"), ca => ca == bundle, "the first CA");

        var renewed = await RenewAsync(cluster);
        host.RepublishCa();

        await EventuallyAsync(() => Ca(cluster, "ci-payments"), ca => ca == renewed, "the renewed CA");
    }

    [Fact]
    public async Task An_unchanged_ca_is_not_written_again()
    {
        var (cluster, bundle) = await ClusterWithCaAsync();
        await using var _ = cluster;
        await cluster.LabelNamespaceAsync("ci-payments", metered: true);
        var host = await cluster.StartOperatorAsync();
        await EventuallyAsync(() => Ca(cluster, "ci-payments"), ca => ca == bundle, "the CA");
        await EventuallyAsync(() => Ca(cluster, OperatorNamespace), ca => ca == bundle, "the CA in the operator's namespace");
        cluster.Api.ClearRequests();

        // Counted before the republish: its passes may be over by the time the next line runs.
        var before = host.Reconciles;
        host.RepublishCa();
        await EventuallyAsync(() => host.Reconciles, n => n >= before + 2, "the republish passes");

        Assert.DoesNotContain(cluster.Api.Requests, r => r.Path.EndsWith("/configmaps/" + Name, StringComparison.Ordinal) && r.Verb is "update" or "create" or "patch");
        // Only creates of this ConfigMap: other controllers (the admission parameters) may create theirs meanwhile.
        Assert.DoesNotContain(cluster.Api.Requests, r => r.Path.EndsWith("/configmaps", StringComparison.Ordinal) && r.Verb == "create"
            && r.Body?.Contains($"\"name\":\"{Name}\"", StringComparison.Ordinal) == true);
    }

    private static async Task<string> RenewAsync(OperatorCluster cluster)
    {
        var secret = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("tollgate-webhook-tls", OperatorNamespace);
        using var previous = ServingCertificate.FromSecretData(secret.Data)!;
        using var renewed = WebhookCertificates.Issue("tollgate-webhook", OperatorNamespace, TimeProvider.System, previous);
        secret.Data = renewed.ToSecretData();
        await cluster.Client.CoreV1.ReplaceNamespacedSecretAsync(secret, "tollgate-webhook-tls", OperatorNamespace);
        Assert.NotEqual(previous.CaBundlePem, renewed.CaBundlePem);
        Assert.Contains(previous.Ca.ExportCertificatePem(), Encoding.ASCII.GetString(secret.Data[ServingCertificate.CaBundleKey]), StringComparison.Ordinal);
        return renewed.CaBundlePem;
    }
}
