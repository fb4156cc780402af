using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s;
using Microsoft.Extensions.Logging;
using Tollgate.Operator.Certificates;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.LedgerWiring;

/// <summary>
/// The ledger's Redis serves TLS with a certificate from the operator's CA (the one in the webhook's Secret, which every
/// replica keeps issued: <see cref="WebhookCertificateStore"/>), so clients need only that CA: <c>ca.crt</c> of the
/// Secret written here holds its trust bundle (current CA first, then still valid predecessors). The certificate is issued
/// again when it is missing, unreadable, not from the current CA (the CA was rotated), not for every Redis name, or has
/// less than <see cref="CertificateAuthority.RenewBefore"/> left; Redis is then restarted to serve it.
/// </summary>
internal sealed class LedgerTlsController(
    IKubernetes client, LedgerWiringOptions options, string @namespace, TimeProvider time, ILogger logger) : IReconciler
{
    public const string Key = "ledger-tls";

    /// <summary>The pod-template annotation whose change restarts Redis with a new certificate.</summary>
    public const string ChecksumAnnotation = "tollgate.io/tls-checksum";

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
        var existing = await client.ReadAsync(@namespace, options.TlsSecretName, cancellationToken);
        var certificatePem = existing?.Text(ServingCertificate.CertificateKey);
        var keyPem = existing?.Text(ServingCertificate.PrivateKeyKey);
        if (!IsCurrent(certificatePem, keyPem, authority, names, time.GetUtcNow()))
        {
            (certificatePem, keyPem) = authority.IssueServing(names[2], names, time);
            LedgerWiringLog.CertificateIssued(logger, names[2], @namespace, options.TlsSecretName, Min(time.GetUtcNow() + CertificateAuthority.Validity, authority.NotAfter));
        }
        else if (existing!.Text(ServingCertificate.CaKey) != ca.CaBundlePem)
        {
            LedgerWiringLog.CaBundleUpdated(logger, @namespace, options.TlsSecretName);
        }

        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [ServingCertificate.CertificateKey] = Encoding.ASCII.GetBytes(certificatePem!),
            [ServingCertificate.PrivateKeyKey] = Encoding.ASCII.GetBytes(keyPem!),
            [ServingCertificate.CaKey] = Encoding.ASCII.GetBytes(ca.CaBundlePem),
        };
        if (existing is null)
        {
            await client.CoreV1.CreateNamespacedSecretAsync(
                SecretReader.New(@namespace, options.TlsSecretName, "kubernetes.io/tls", data), @namespace, cancellationToken: cancellationToken);
        }
        else if (!SameData(existing.Data, data))
        {
            // Replace carries the read resourceVersion: a concurrent write is a 409 and a fresh pass, not a lost update.
            existing.Data = data;
            await client.CoreV1.ReplaceNamespacedSecretAsync(existing, options.TlsSecretName, @namespace, cancellationToken: cancellationToken);
        }

        if (await _restarter.EnsureAsync(ChecksumAnnotation, LedgerCredentialsController.Checksum(certificatePem + ca.CaBundlePem), cancellationToken))
        {
            LedgerWiringLog.RedisRestarting(logger, @namespace, options.RedisName, "certificate");
        }

        return ReconcileResult.Success(options.CheckInterval);
    }

    /// <summary>Whether the stored certificate and key can go on being served.</summary>
    internal static bool IsCurrent(string? certificatePem, string? keyPem, CertificateAuthority authority, IReadOnlyList<string> names, DateTimeOffset now)
    {
        if (certificatePem is null || keyPem is null)
        {
            return false;
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // Not PEM, or a key that is not this certificate's: issued anew.
            return false;
        }

        using (certificate)
        {
            var notAfter = CertificateAuthority.NotAfterOf(certificate);
            var covered = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
                .SelectMany(e => e.EnumerateDnsNames())
                .ToHashSet(StringComparer.OrdinalIgnoreCase);

            // Near its end a certificate is renewed, unless it already lasts as long as the CA: a new one could not last
            // longer, and issuing it would only restart Redis every pass until the CA itself is rotated.
            var due = notAfter - now < CertificateAuthority.RenewBefore && notAfter < authority.NotAfter;
            return authority.Issued(certificate) && names.All(covered.Contains) && !due && notAfter > now;
        }
    }

    private static bool SameData(IDictionary<string, byte[]>? stored, Dictionary<string, byte[]> desired) =>
        stored is not null && stored.Count == desired.Count
        && desired.All(p => stored.TryGetValue(p.Key, out var value) && value.AsSpan().SequenceEqual(p.Value));

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
