using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tollgate.Operator.Certificates;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// Self-managed TLS of the pod webhook: a private CA and a serving certificate for the webhook Service, so that
/// installing needs neither cert-manager nor a manual step. The CA's PEM goes into the
/// MutatingWebhookConfiguration's <c>caBundle</c> (<see cref="CaBundlePatcher"/>).
/// </summary>
public static class WebhookCertificates
{
    /// <inheritdoc cref="CertificateAuthority.Validity"/>
    public static readonly TimeSpan Validity = CertificateAuthority.Validity;

    /// <inheritdoc cref="CertificateAuthority.RenewBefore"/>
    public static readonly TimeSpan RenewBefore = CertificateAuthority.RenewBefore;

    /// <summary>The names the API server may use for the Service: it dials <c>&lt;svc&gt;.&lt;ns&gt;.svc</c>.</summary>
    public static IReadOnlyList<string> DnsNames(string service, string serviceNamespace) =>
    [
        service,
        $"{service}.{serviceNamespace}",
        $"{service}.{serviceNamespace}.svc",
        $"{service}.{serviceNamespace}.svc.cluster.local",
    ];

    /// <summary>True when less than <see cref="RenewBefore"/> is left of <paramref name="certificate"/> at <paramref name="now"/>.</summary>
    public static bool NeedsRenewal(X509Certificate2 certificate, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return NotAfter(certificate) - now < RenewBefore;
    }

    public static DateTimeOffset NotAfter(X509Certificate2 certificate) => CertificateAuthority.NotAfterOf(certificate);

    /// <summary>
    /// Issues a new CA and a serving certificate signed by it, both valid for <see cref="Validity"/>. The trust
    /// bundle holds the new CA and the still valid CAs of <paramref name="previous"/>: other replicas keep serving the
    /// old certificate until they load the new one, and the API server must trust both meanwhile. The CA's key is kept
    /// with it: the same CA signs the ledger's Redis certificate (operator/Ledger).
    /// </summary>
    public static ServingCertificate Issue(string service, string serviceNamespace, TimeProvider time, ServingCertificate? previous = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(serviceNamespace);
        ArgumentNullException.ThrowIfNull(time);
        using var authority = CertificateAuthority.Create("tollgate-ca", time);
        var names = DnsNames(service, serviceNamespace);
        var (certificatePem, privateKeyPem) = authority.IssueServing(names[2], names, time);
        return ServingCertificate.FromPem(
            certificatePem, privateKeyPem, authority.CertificatePem, authority.TrustBundle(previous?.CaBundlePem, time.GetUtcNow()), authority.PrivateKeyPem);
    }
}

/// <summary>A serving certificate with its key, the CA that signed it and the trust bundle for <c>caBundle</c>.</summary>
public sealed class ServingCertificate : IDisposable
{
    public const string CertificateKey = "tls.crt";
    public const string PrivateKeyKey = "tls.key";
    public const string CaKey = "ca.crt";
    public const string CaBundleKey = "ca-bundle.crt";

    /// <summary>The CA's private key, kept so the operator's CA can sign more than this one certificate.</summary>
    public const string CaPrivateKeyKey = "ca.key";

    private ServingCertificate(
        X509Certificate2 serving, X509Certificate2 ca, string caBundlePem, string certificatePem, string privateKeyPem, CertificateAuthority? authority)
    {
        Serving = serving;
        Ca = ca;
        CaBundlePem = caBundlePem;
        CertificatePem = certificatePem;
        PrivateKeyPem = privateKeyPem;
        Authority = authority;
    }

    /// <summary>The serving certificate, with its private key.</summary>
    public X509Certificate2 Serving { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>PEM of the CAs the API server should trust: <see cref="Ca"/> first, then still valid predecessors.</summary>
    public string CaBundlePem { get; }

    public string CertificatePem { get; }

    public string PrivateKeyPem { get; }

    /// <summary>The CA with its key, or null for a certificate stored before the key was kept (it is then issued anew).</summary>
    public CertificateAuthority? Authority { get; }

    /// <summary>The earlier end of the serving certificate and its CA.</summary>
    public DateTimeOffset NotAfter => Min(WebhookCertificates.NotAfter(Serving), WebhookCertificates.NotAfter(Ca));

    public bool NeedsRenewal(DateTimeOffset now) => NotAfter - now < WebhookCertificates.RenewBefore;

    /// <summary>Whether the serving certificate covers every DNS name of the Service (a Service renamed by a new install does not).</summary>
    public bool Covers(IEnumerable<string> dnsNames)
    {
        var covered = Serving.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(e => e.EnumerateDnsNames())
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        return dnsNames.All(covered.Contains);
    }

    public X509Certificate2Collection TrustedCas()
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPem(CaBundlePem);
        return collection;
    }

    /// <param name="caPrivateKeyPem">The CA's key; when given it must match <paramref name="caPem"/>.</param>
    public static ServingCertificate FromPem(string certificatePem, string privateKeyPem, string caPem, string caBundlePem, string? caPrivateKeyPem = null)
    {
        var serving = X509Certificate2.CreateFromPem(certificatePem, privateKeyPem);
        var ca = X509Certificate2.CreateFromPem(caPem);
        var authority = caPrivateKeyPem is null ? null : CertificateAuthority.FromPem(caPem, caPrivateKeyPem);
        return new ServingCertificate(serving, ca, caBundlePem, certificatePem, privateKeyPem, authority);
    }

    /// <summary>
    /// The data of a <c>kubernetes.io/tls</c> Secret, plus <c>ca.crt</c>, <c>ca-bundle.crt</c> and, when known, the CA's key
    /// <c>ca.key</c> (whoever reads this Secret could already serve as the webhook; now they could also sign for the ledger,
    /// so only the operator may read it).
    /// </summary>
    public Dictionary<string, byte[]> ToSecretData()
    {
        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [CertificateKey] = Encoding.ASCII.GetBytes(CertificatePem),
            [PrivateKeyKey] = Encoding.ASCII.GetBytes(PrivateKeyPem),
            [CaKey] = Encoding.ASCII.GetBytes(Ca.ExportCertificatePem()),
            [CaBundleKey] = Encoding.ASCII.GetBytes(CaBundlePem),
        };
        if (Authority is not null)
        {
            data[CaPrivateKeyKey] = Encoding.ASCII.GetBytes(Authority.PrivateKeyPem);
        }

        return data;
    }

    /// <returns>The certificate, or null when a key is missing or does not parse.</returns>
    public static ServingCertificate? FromSecretData(IDictionary<string, byte[]>? data)
    {
        if (data is null
            || !data.TryGetValue(CertificateKey, out var certificate)
            || !data.TryGetValue(PrivateKeyKey, out var privateKey)
            || !data.TryGetValue(CaKey, out var ca))
        {
            return null;
        }

        var caPem = Encoding.ASCII.GetString(ca);
        var bundle = data.TryGetValue(CaBundleKey, out var bundleBytes) ? Encoding.ASCII.GetString(bundleBytes) : caPem;
        try
        {
            var caKey = data.TryGetValue(CaPrivateKeyKey, out var caKeyBytes) ? Encoding.ASCII.GetString(caKeyBytes) : null;
            return FromPem(Encoding.ASCII.GetString(certificate), Encoding.ASCII.GetString(privateKey), caPem, bundle, caKey);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // Not PEM, or a key that belongs to another certificate (ArgumentException): issued anew.
            return null;
        }
    }

    public void Dispose()
    {
        Serving.Dispose();
        Ca.Dispose();
        Authority?.Dispose();
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}

/// <summary>
/// The certificate Kestrel presents, swapped in place on renewal: the selector is asked on every handshake, so a
/// renewed certificate is served without a restart and connections that are open keep theirs.
/// </summary>
public sealed class ServingCertificateSource
{
    private ServingCertificate? _current;

    public ServingCertificateSource(ServingCertificate? initial = null) => _current = initial;

    public ServingCertificate? Current => Volatile.Read(ref _current);

    /// <summary>Raised after <see cref="Set"/>: the CA published to metered namespaces may have to follow.</summary>
    public event Action? Changed;

    // The replaced certificate is not disposed: a handshake in flight may still be using it.
    public void Set(ServingCertificate certificate)
    {
        Volatile.Write(ref _current, certificate);
        Changed?.Invoke();
    }
}
