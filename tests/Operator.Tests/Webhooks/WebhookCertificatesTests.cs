using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

public sealed class WebhookCertificatesTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Serving_certificate_chains_to_its_ca_and_to_no_other()
    {
        var time = new FakeTimeProvider(Start);
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time);
        using var other = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time);

        using var chain = ChainTrusting(certificate.Ca, Start.AddDays(1));
        Assert.True(chain.Build(certificate.Serving), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal([certificate.Serving.Thumbprint, certificate.Ca.Thumbprint], chain.ChainElements.Select(e => e.Certificate.Thumbprint));

        using var foreign = ChainTrusting(other.Ca, Start.AddDays(1));
        Assert.False(foreign.Build(certificate.Serving));
    }

    [Fact]
    public void Serving_certificate_names_every_dns_name_of_the_service_and_is_for_servers_only()
    {
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", new FakeTimeProvider(Start));

        Assert.Equal(
            ["tollgate-webhook", "tollgate-webhook.tollgate-system", "tollgate-webhook.tollgate-system.svc", "tollgate-webhook.tollgate-system.svc.cluster.local"],
            certificate.Serving.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Equal("CN=tollgate-webhook.tollgate-system.svc", certificate.Serving.Subject);
        Assert.Equal(["1.3.6.1.5.5.7.3.1"], certificate.Serving.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        Assert.False(certificate.Serving.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(certificate.Ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(certificate.Serving.HasPrivateKey);
        Assert.False(certificate.Ca.HasPrivateKey);
    }

    [Fact]
    public void Certificates_are_valid_for_a_year_from_issue()
    {
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", new FakeTimeProvider(Start));

        Assert.Equal(Start.AddDays(365), certificate.NotAfter);
        Assert.Equal(Start.AddDays(365), WebhookCertificates.NotAfter(certificate.Ca));
        Assert.Equal(Start.AddMinutes(-5).UtcDateTime, certificate.Serving.NotBefore.ToUniversalTime());
    }

    [Fact]
    public void Renewal_is_due_once_less_than_30_days_are_left()
    {
        var time = new FakeTimeProvider(Start);
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time);

        time.Advance(TimeSpan.FromDays(335));
        Assert.False(certificate.NeedsRenewal(time.GetUtcNow()));
        Assert.False(WebhookCertificates.NeedsRenewal(certificate.Serving, time.GetUtcNow()));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(certificate.NeedsRenewal(time.GetUtcNow()));
        Assert.True(WebhookCertificates.NeedsRenewal(certificate.Serving, time.GetUtcNow()));
    }

    [Fact]
    public void A_stored_certificate_is_reused_until_renewal_is_due_and_only_for_its_own_service()
    {
        var time = new FakeTimeProvider(Start);
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time);
        var names = WebhookCertificates.DnsNames("tollgate-webhook", "tollgate-system");

        Assert.True(WebhookCertificateStore.IsUsable(certificate, Start.AddDays(335), names));
        Assert.False(WebhookCertificateStore.IsUsable(certificate, Start.AddDays(336), names));
        Assert.False(WebhookCertificateStore.IsUsable(certificate, Start, WebhookCertificates.DnsNames("tollgate-webhook", "platform")));
        Assert.False(WebhookCertificateStore.IsUsable(null, Start, names));
    }

    [Fact]
    public void A_renewed_bundle_keeps_the_previous_ca_only_while_it_is_valid()
    {
        var time = new FakeTimeProvider(Start);
        using var first = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time);
        time.Advance(TimeSpan.FromDays(340));
        using var second = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time, first);
        time.Advance(TimeSpan.FromDays(340));
        using var third = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", time, second);

        Assert.Equal([second.Ca.Thumbprint, first.Ca.Thumbprint], second.TrustedCas().Select(c => c.Thumbprint));
        Assert.Equal([third.Ca.Thumbprint, second.Ca.Thumbprint], third.TrustedCas().Select(c => c.Thumbprint));
    }

    [Fact]
    public void Secret_data_round_trips_with_a_usable_private_key()
    {
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", new FakeTimeProvider(Start));

        var data = certificate.ToSecretData();
        using var loaded = ServingCertificate.FromSecretData(data)!;

        Assert.Equal(["tls.crt", "tls.key", "ca.crt", "ca-bundle.crt", "ca.key"], data.Keys);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", Encoding.ASCII.GetString(data["tls.key"]), StringComparison.Ordinal);
        Assert.Equal(certificate.Serving.Thumbprint, loaded.Serving.Thumbprint);
        Assert.Equal(certificate.Ca.Thumbprint, loaded.Ca.Thumbprint);
        Assert.Equal(certificate.CaBundlePem, loaded.CaBundlePem);
        using var key = loaded.Serving.GetECDsaPrivateKey()!;
        var signature = key.SignData("admission"u8, HashAlgorithmName.SHA256);
        using var publicKey = certificate.Serving.GetECDsaPublicKey()!;
        Assert.True(publicKey.VerifyData("admission"u8, signature, HashAlgorithmName.SHA256));
    }

    [Fact]
    public void Secret_data_with_a_missing_key_or_garbage_is_no_certificate()
    {
        using var certificate = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", new FakeTimeProvider(Start));
        var missing = certificate.ToSecretData();
        missing.Remove("tls.key");
        var garbage = certificate.ToSecretData();
        garbage["tls.crt"] = "not a certificate"u8.ToArray();

        Assert.Null(ServingCertificate.FromSecretData(missing));
        Assert.Null(ServingCertificate.FromSecretData(garbage));
        Assert.Null(ServingCertificate.FromSecretData(null));
    }

    private static X509Chain ChainTrusting(X509Certificate2 ca, DateTimeOffset at)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        return chain;
    }
}
