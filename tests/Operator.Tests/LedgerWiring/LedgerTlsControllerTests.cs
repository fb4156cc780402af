using System.Security.Cryptography.X509Certificates;
using Tollgate.Operator.Certificates;
using Tollgate.Operator.LedgerWiring;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.LedgerWiring;

public sealed class LedgerTlsControllerTests
{
    private static readonly string[] RedisNames =
    [
        "tollgate-redis",
        "tollgate-redis.tollgate-system",
        "tollgate-redis.tollgate-system.svc",
        "tollgate-redis.tollgate-system.svc.cluster.local",
        "tollgate-redis-0.tollgate-redis.tollgate-system.svc",
        "tollgate-redis-0.tollgate-redis.tollgate-system.svc.cluster.local",
    ];

    [Fact]
    public async Task Without_the_operators_ca_the_pass_fails_and_writes_nothing()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        var result = await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);

        Assert.True(result.Failed);
        Assert.Null(cluster.Secret("tollgate-redis-tls"));
    }

    [Fact]
    public async Task Issues_a_server_certificate_for_every_redis_name_from_the_webhooks_ca_and_publishes_the_ca_bundle_not_the_ca_key()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.IssueCaAsync();

        var result = await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);

        Assert.False(result.Failed, result.Error);
        using var ca = Ca(cluster);
        var secret = cluster.Secret("tollgate-redis-tls")!;
        Assert.Equal("kubernetes.io/tls", secret["type"]!.GetValue<string>());
        Assert.Equal(["ca.crt", "tls.crt", "tls.key"], secret["data"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(ca.CaBundlePem, cluster.SecretText("tollgate-redis-tls", "ca.crt"));

        using var certificate = X509Certificate2.CreateFromPem(cluster.SecretText("tollgate-redis-tls", "tls.crt"), cluster.SecretText("tollgate-redis-tls", "tls.key"));
        Assert.Equal(RedisNames, certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Equal("CN=tollgate-redis.tollgate-system.svc", certificate.Subject);
        Assert.True(ca.Authority!.Issued(certificate));
        Assert.Equal(cluster.Time.GetUtcNow().AddDays(365), CertificateAuthority.NotAfterOf(certificate), TimeSpan.FromSeconds(1));
        Assert.NotNull(cluster.TemplateAnnotation(LedgerTlsController.ChecksumAnnotation));

        cluster.Api.ClearRequests();
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        Assert.Empty(cluster.Writes());
    }

    [Fact]
    public async Task A_rotated_ca_goes_out_in_the_bundle_first_and_the_certificate_follows_once_clients_had_time_to_read_it()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.IssueCaAsync();
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        var before = cluster.SecretText("tollgate-redis-tls", "tls.crt");
        var annotation = cluster.TemplateAnnotation(LedgerTlsController.ChecksumAnnotation);

        // The webhook's certificate comes due (335 days on); its rotator issues a new CA.
        cluster.Time.Advance(TimeSpan.FromDays(336));
        await cluster.IssueCaAsync();
        var result = await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);

        // First the bundle, with both CAs; the old certificate (29 days left) is still served and Redis is not restarted.
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(cluster.SecretText("tollgate-redis-tls", "ca.crt"));
        Assert.Equal(2, bundle.Count);
        Assert.Equal(before, cluster.SecretText("tollgate-redis-tls", "tls.crt"));
        Assert.Equal(annotation, cluster.TemplateAnnotation(LedgerTlsController.ChecksumAnnotation));
        Assert.Equal(TimeSpan.FromMinutes(1), result.RequeueAfter);

        cluster.Time.Advance(TimeSpan.FromMinutes(9));
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        Assert.Equal(before, cluster.SecretText("tollgate-redis-tls", "tls.crt"));

        // Then, ten minutes after the bundle, the certificate from the new CA, and a restart to serve it.
        cluster.Time.Advance(TimeSpan.FromMinutes(1));
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        using var ca = Ca(cluster);
        Assert.NotEqual(before, cluster.SecretText("tollgate-redis-tls", "tls.crt"));
        using var certificate = X509Certificate2.CreateFromPem(cluster.SecretText("tollgate-redis-tls", "tls.crt"));
        Assert.True(ca.Authority!.Issued(certificate));
        Assert.NotEqual(annotation, cluster.TemplateAnnotation(LedgerTlsController.ChecksumAnnotation));
    }

    [Fact]
    public async Task A_certificate_for_names_that_changed_is_reissued_at_once_even_during_a_rotation()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.IssueCaAsync();
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        var before = cluster.SecretText("tollgate-redis-tls", "tls.crt");

        cluster.Options.RedisName = "ledger";
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);

        Assert.NotEqual(before, cluster.SecretText("tollgate-redis-tls", "tls.crt"));
        using var certificate = X509Certificate2.CreateFromPem(cluster.SecretText("tollgate-redis-tls", "tls.crt"));
        Assert.Contains("ledger.tollgate-system.svc", certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
    }

    [Fact]
    public async Task A_certificate_is_not_renewed_while_its_ca_stays_and_it_lasts_as_long_as_the_ca()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.IssueCaAsync();
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        var first = cluster.SecretText("tollgate-redis-tls", "tls.crt");

        // Only the clock moves: 65 days left is not due.
        cluster.Time.Advance(TimeSpan.FromDays(300));
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        Assert.Equal(first, cluster.SecretText("tollgate-redis-tls", "tls.crt"));

        // 25 days left, but its CA ends then too: a new one could not last longer, so it is kept until the CA is rotated
        // (the webhook's rotator does that a month before the CA's end, and then this certificate is issued anew).
        cluster.Time.Advance(TimeSpan.FromDays(40));
        await cluster.Tls.ReconcileAsync(LedgerTlsController.Key, CancellationToken.None);
        Assert.Equal(first, cluster.SecretText("tollgate-redis-tls", "tls.crt"));
    }

    [Fact]
    public async Task A_stored_certificate_is_kept_only_when_it_is_this_cas_for_every_name_with_its_key_and_not_expired()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.IssueCaAsync();
        using var ca = Ca(cluster);
        var names = cluster.Options.DnsNames(LedgerCluster.Namespace);
        var now = cluster.Time.GetUtcNow();
        var fresh = ca.Authority!.IssueServing(names[2], names, cluster.Time);
        using var other = CertificateAuthority.Create("someone-else", cluster.Time);
        var foreign = other.IssueServing(names[2], names, cluster.Time);

        Assert.True(LedgerTlsController.IsCurrent(fresh.CertificatePem, fresh.PrivateKeyPem, ca.Authority, names, now));
        Assert.False(LedgerTlsController.IsCurrent(fresh.CertificatePem, fresh.PrivateKeyPem, ca.Authority, [.. names, "another-name"], now));
        Assert.False(LedgerTlsController.IsCurrent(foreign.CertificatePem, foreign.PrivateKeyPem, ca.Authority, names, now));
        Assert.False(LedgerTlsController.IsCurrent(fresh.CertificatePem, foreign.PrivateKeyPem, ca.Authority, names, now));
        Assert.False(LedgerTlsController.IsCurrent(fresh.CertificatePem, null, ca.Authority, names, now));
        Assert.False(LedgerTlsController.IsCurrent("not a certificate", fresh.PrivateKeyPem, ca.Authority, names, now));
        Assert.False(LedgerTlsController.IsCurrent(fresh.CertificatePem, fresh.PrivateKeyPem, ca.Authority, names, now.AddDays(366)));
    }

    private static ServingCertificate Ca(LedgerCluster cluster) =>
        ServingCertificate.FromSecretData(cluster.Api.Get("", "v1", "secrets", LedgerCluster.Namespace, "tollgate-webhook-tls")!["data"]!.AsObject()
            .ToDictionary(p => p.Key, p => Convert.FromBase64String(p.Value!.GetValue<string>())))!;
}
