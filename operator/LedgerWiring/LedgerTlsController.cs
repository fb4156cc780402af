using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s;
using Microsoft.Extensions.Logging;
using Tollgate.Operator.Certificates;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.LedgerWiring;

/// <summary>
/// The ledger's Redis serves TLS with a certificate from the operator's CA (the one in the webhook's Secret, which every
/// replica keeps issued: <see cref="WebhookCertificateStore"/>), so clients need only that CA: <c>ca.crt</c> of the
/// Secret written here holds its trust bundle (current CA first, then still valid predecessors). The certificate is issued
/// again when it is missing, unreadable, not for every Redis name, or has less than
/// <see cref="CertificateAuthority.RenewBefore"/> left, and Redis is then restarted to serve it. When the CA is rotated
/// (yearly, a month before it ends) the new bundle is published first and the old certificate kept for
/// <see cref="LedgerWiringOptions.CaPropagation"/>, so that no client meets a certificate it cannot verify yet.
/// </summary>
internal sealed class LedgerTlsController(
    IKubernetes client, LedgerWiringOptions options, string @namespace, TimeProvider time, ILogger logger) : IReconciler
{
    public const string Key = "ledger-tls";

    /// <summary>The pod-template annotation whose change restarts Redis with a new certificate.</summary>
    public const string ChecksumAnnotation = "tollgate.io/tls-checksum";

    /// <summary>On the Secret: when its <c>ca.crt</c> last changed, so a rotation can wait for clients to have read it.</summary>
    public const string BundleSinceAnnotation = "tollgate.io/ca-bundle-since";

    private readonly RedisRestarter _restarter = new(client, @namespace, options.RedisName);

    public string Kind => "LedgerTls";

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        if (key != Key)
        {
            return ReconcileResult.Done;
        }

        var caSecret = await client.ReadAsync(@namespace, options.CaSecretName, cancellationToken);
        using var ca = ServingCertificate.FromSecretData(caSecret?.Data);
        if (ca?.Authority is not { } authority)
        {
            // Every replica's webhook rotator writes it (with the CA's key) shortly after start.
            return ReconcileResult.Failure($"the operator's CA is not in Secret {@namespace}/{options.CaSecretName} yet");
        }

        var names = options.DnsNames(@namespace);
        var now = time.GetUtcNow();
        var existing = await client.ReadAsync(@namespace, options.TlsSecretName, cancellationToken);
        var certificatePem = existing?.Text(ServingCertificate.CertificateKey);
        var keyPem = existing?.Text(ServingCertificate.PrivateKeyKey);
        var storedBundle = existing?.Text(ServingCertificate.CaKey);
        var bundleSince = storedBundle == ca.CaBundlePem ? BundleSince(existing!) : now;
        TimeSpan? recheck = null;
        if (!IsCurrent(certificatePem, keyPem, authority, names, now))
        {
            // A rotated CA: the new bundle goes out first and the certificate its clients could not verify yet waits
            // until they have had time to read it (clients re-read their CA file at every handshake).
            var waited = now - bundleSince;
            if (IsServable(certificatePem, keyPem, ca, names, now) && waited < options.CaPropagation)
            {
                recheck = options.CaPropagation - waited;
            }
            else
            {
                (certificatePem, keyPem) = authority.IssueServing(names[2], names, time);
                LedgerWiringLog.CertificateIssued(logger, names[2], @namespace, options.TlsSecretName, Min(now + CertificateAuthority.Validity, authority.NotAfter));
            }
        }

        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [ServingCertificate.CertificateKey] = Encoding.ASCII.GetBytes(certificatePem!),
            [ServingCertificate.PrivateKeyKey] = Encoding.ASCII.GetBytes(keyPem!),
            [ServingCertificate.CaKey] = Encoding.ASCII.GetBytes(ca.CaBundlePem),
        };
        if (existing is null)
        {
            var created = SecretReader.New(@namespace, options.TlsSecretName, "kubernetes.io/tls", data);
            created.Metadata.Annotations = new Dictionary<string, string> { [BundleSinceAnnotation] = Format(bundleSince) };
            await client.CoreV1.CreateNamespacedSecretAsync(created, @namespace, cancellationToken: cancellationToken);
        }
        else if (!SameData(existing.Data, data) || existing.Metadata.Annotations?.ContainsKey(BundleSinceAnnotation) != true)
        {
            if (storedBundle != ca.CaBundlePem)
            {
                LedgerWiringLog.CaBundleUpdated(logger, @namespace, options.TlsSecretName);
            }

            // Replace carries the read resourceVersion: a concurrent write is a 409 and a fresh pass, not a lost update.
            existing.Data = data;
            existing.Metadata.Annotations ??= new Dictionary<string, string>();
            existing.Metadata.Annotations[BundleSinceAnnotation] = Format(bundleSince);
            await client.CoreV1.ReplaceNamespacedSecretAsync(existing, options.TlsSecretName, @namespace, cancellationToken: cancellationToken);
        }

        // The certificate only: Redis does not use the bundle (it asks no client for a certificate), so a new bundle alone
        // restarts nothing.
        if (await _restarter.EnsureAsync(ChecksumAnnotation, LedgerCredentialsController.Checksum(certificatePem!), cancellationToken))
        {
            LedgerWiringLog.RedisRestarting(logger, @namespace, options.RedisName, "certificate");
        }

        return ReconcileResult.Success(recheck is { } soon && soon < options.CheckInterval ? soon : options.CheckInterval);
    }

    /// <summary>
    /// Whether a certificate that is no longer current (its CA was rotated) may still be served while clients learn the new
    /// CA: it is for every name, has its key, chains to a CA of the current bundle and has more than a day left.
    /// </summary>
    internal static bool IsServable(string? certificatePem, string? keyPem, ServingCertificate ca, IReadOnlyList<string> names, DateTimeOffset now)
    {
        if (Parse(certificatePem, keyPem) is not { } certificate)
        {
            return false;
        }

        using (certificate)
        {
            var trusted = ca.TrustedCas();
            try
            {
                return Covers(certificate, names)
                    && CertificateAuthority.NotAfterOf(certificate) - now > TimeSpan.FromDays(1)
                    && trusted.Any(t => Chains(certificate, t));
            }
            finally
            {
                foreach (var t in trusted)
                {
                    t.Dispose();
                }
            }
        }
    }

    /// <summary>Whether the stored certificate and key can go on being served as they are.</summary>
    internal static bool IsCurrent(string? certificatePem, string? keyPem, CertificateAuthority authority, IReadOnlyList<string> names, DateTimeOffset now)
    {
        if (Parse(certificatePem, keyPem) is not { } certificate)
        {
            return false;
        }

        using (certificate)
        {
            var notAfter = CertificateAuthority.NotAfterOf(certificate);

            // Near its end a certificate is renewed, unless it already lasts as long as the CA: a new one could not last
            // longer, and issuing it would only restart Redis every pass until the CA itself is rotated.
            var due = notAfter - now < CertificateAuthority.RenewBefore && notAfter < authority.NotAfter;
            return authority.Issued(certificate) && Covers(certificate, names) && !due && notAfter > now;
        }
    }

    /// <summary>When the stored bundle was first written (its annotation), or the distant past when unknown.</summary>
    private static DateTimeOffset BundleSince(k8s.Models.V1Secret secret) =>
        secret.Metadata.Annotations?.TryGetValue(BundleSinceAnnotation, out var since) == true
        && DateTimeOffset.TryParse(since, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed)
            ? parsed
            : DateTimeOffset.MinValue;

    private static string Format(DateTimeOffset time) => time.ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    private static X509Certificate2? Parse(string? certificatePem, string? keyPem)
    {
        if (certificatePem is null || keyPem is null)
        {
            return null;
        }

        try
        {
            return X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // Not PEM, or a key that is not this certificate's: issued anew.
            return null;
        }
    }

    private static bool Covers(X509Certificate2 certificate, IReadOnlyList<string> names)
    {
        var covered = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(e => e.EnumerateDnsNames())
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        return names.All(covered.Contains);
    }

    private static bool Chains(X509Certificate2 certificate, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(certificate);
    }

    private static bool SameData(IDictionary<string, byte[]>? stored, Dictionary<string, byte[]> desired) =>
        stored is not null && stored.Count == desired.Count
        && desired.All(p => stored.TryGetValue(p.Key, out var value) && value.AsSpan().SequenceEqual(p.Value));

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
