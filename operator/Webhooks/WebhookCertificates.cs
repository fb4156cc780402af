using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// Self-managed TLS of the pod webhook: a private CA and a serving certificate for the webhook Service, so that
/// installing needs neither cert-manager nor a manual step. The CA's PEM goes into the
/// MutatingWebhookConfiguration's <c>caBundle</c> (<see cref="CaBundlePatcher"/>).
/// </summary>
public static class WebhookCertificates
{
    public static readonly TimeSpan Validity = TimeSpan.FromDays(365);

    /// <summary>Renewal starts when less than this is left, leaving a month of retries before anything expires.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    // Nodes and the API server may run a few minutes behind the operator.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

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

    public static DateTimeOffset NotAfter(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
    }

    /// <summary>
    /// Issues a new CA and a serving certificate signed by it, both valid for <see cref="Validity"/>. The trust
    /// bundle holds the new CA and the still valid CAs of <paramref name="previous"/>: other replicas keep serving the
    /// old certificate until they load the new one, and the API server must trust both meanwhile.
    /// </summary>
    public static WebhookCertificate Issue(string service, string serviceNamespace, TimeProvider time, WebhookCertificate? previous = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(serviceNamespace);
        ArgumentNullException.ThrowIfNull(time);
        var now = time.GetUtcNow();
        var notBefore = now - ClockSkew;
        var notAfter = now + Validity;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest(
            new X500DistinguishedName($"CN=tollgate-webhook-ca-{now.ToUnixTimeSeconds()}"), caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using var caWithKey = caRequest.CreateSelfSigned(notBefore, notAfter);

        var names = DnsNames(service, serviceNamespace);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={names[2]}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], critical: false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caWithKey, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var signed = request.Create(caWithKey, notBefore, notAfter, SerialNumber());

        // Through PEM, as from the Secret: one code path for a certificate issued here and one loaded by another replica.
        var caPem = caWithKey.ExportCertificatePem();
        var bundle = new StringBuilder(caPem).Append('\n');
        var olderCas = previous?.TrustedCas() ?? [];
        foreach (var older in olderCas)
        {
            if (NotAfter(older) > now && older.Thumbprint != caWithKey.Thumbprint)
            {
                bundle.Append(older.ExportCertificatePem()).Append('\n');
            }

            older.Dispose();
        }

        return WebhookCertificate.FromPem(signed.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), caPem, bundle.ToString());
    }

    // RFC 5280: positive, at most 20 octets; random so that two issued in the same second differ.
    private static byte[] SerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return serial;
    }
}

/// <summary>A serving certificate with its key, the CA that signed it and the trust bundle for <c>caBundle</c>.</summary>
public sealed class WebhookCertificate : IDisposable
{
    public const string CertificateKey = "tls.crt";
    public const string PrivateKeyKey = "tls.key";
    public const string CaKey = "ca.crt";
    public const string CaBundleKey = "ca-bundle.crt";

    private WebhookCertificate(X509Certificate2 serving, X509Certificate2 ca, string caBundlePem, string certificatePem, string privateKeyPem)
    {
        Serving = serving;
        Ca = ca;
        CaBundlePem = caBundlePem;
        CertificatePem = certificatePem;
        PrivateKeyPem = privateKeyPem;
    }

    /// <summary>The serving certificate, with its private key.</summary>
    public X509Certificate2 Serving { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>PEM of the CAs the API server should trust: <see cref="Ca"/> first, then still valid predecessors.</summary>
    public string CaBundlePem { get; }

    public string CertificatePem { get; }

    public string PrivateKeyPem { get; }

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

    public static WebhookCertificate FromPem(string certificatePem, string privateKeyPem, string caPem, string caBundlePem)
    {
        var serving = X509Certificate2.CreateFromPem(certificatePem, privateKeyPem);
        var ca = X509Certificate2.CreateFromPem(caPem);
        return new WebhookCertificate(serving, ca, caBundlePem, certificatePem, privateKeyPem);
    }

    /// <summary>The data of a <c>kubernetes.io/tls</c> Secret, plus <c>ca.crt</c> and <c>ca-bundle.crt</c>. The CA's key is not kept: it signs once.</summary>
    public Dictionary<string, byte[]> ToSecretData() => new(StringComparer.Ordinal)
    {
        [CertificateKey] = Encoding.ASCII.GetBytes(CertificatePem),
        [PrivateKeyKey] = Encoding.ASCII.GetBytes(PrivateKeyPem),
        [CaKey] = Encoding.ASCII.GetBytes(Ca.ExportCertificatePem()),
        [CaBundleKey] = Encoding.ASCII.GetBytes(CaBundlePem),
    };

    /// <returns>The certificate, or null when a key is missing or does not parse.</returns>
    public static WebhookCertificate? FromSecretData(IDictionary<string, byte[]>? data)
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
            return FromPem(Encoding.ASCII.GetString(certificate), Encoding.ASCII.GetString(privateKey), caPem, bundle);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        Serving.Dispose();
        Ca.Dispose();
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}

/// <summary>
/// The certificate Kestrel presents, swapped in place on renewal: the selector is asked on every handshake, so a
/// renewed certificate is served without a restart and connections that are open keep theirs.
/// </summary>
public sealed class ServingCertificateSource
{
    private WebhookCertificate? _current;

    public ServingCertificateSource(WebhookCertificate? initial = null) => _current = initial;

    public WebhookCertificate? Current => Volatile.Read(ref _current);

    /// <summary>Raised after <see cref="Set"/>: the CA published to metered namespaces may have to follow.</summary>
    public event Action? Changed;

    // The replaced certificate is not disposed: a handshake in flight may still be using it.
    public void Set(WebhookCertificate certificate)
    {
        Volatile.Write(ref _current, certificate);
        Changed?.Invoke();
    }
}
