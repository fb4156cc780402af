using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tollgate.Operator.Certificates;

/// <summary>
/// The operator's private CA: a P-256 root with its key, created with the webhook's certificate and kept in its Secret
/// (<c>ca.crt</c>, <c>ca.key</c>), so that the same CA also signs the ledger's Redis certificate and every client of
/// Tollgate trusts one CA. Nothing outside the operator holds the key.
/// </summary>
public sealed class CertificateAuthority : IDisposable
{
    /// <summary>How long a CA and the certificates it issues are valid.</summary>
    public static readonly TimeSpan Validity = TimeSpan.FromDays(365);

    /// <summary>Renewal starts when less than this is left, leaving a month of retries before anything expires.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    // Nodes and the API server may run a few minutes behind the operator.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    private CertificateAuthority(X509Certificate2 certificate, string certificatePem, string privateKeyPem)
    {
        Certificate = certificate;
        CertificatePem = certificatePem;
        PrivateKeyPem = privateKeyPem;
    }

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public string CertificatePem { get; }

    public string PrivateKeyPem { get; }

    public DateTimeOffset NotAfter => NotAfterOf(Certificate);

    /// <summary>A new self-signed CA, valid for <see cref="Validity"/> from <paramref name="time"/>'s now.</summary>
    public static CertificateAuthority Create(string commonName, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(commonName);
        ArgumentNullException.ThrowIfNull(time);
        var now = time.GetUtcNow();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={commonName}-{now.ToUnixTimeSeconds()}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        using var self = request.CreateSelfSigned(now - ClockSkew, now + Validity);

        // Through PEM, as from the Secret: one code path for a CA created here and one loaded by another replica.
        return FromPem(self.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <exception cref="CryptographicException">The PEM does not hold a certificate and its matching key.</exception>
    public static CertificateAuthority FromPem(string certificatePem, string privateKeyPem) =>
        new(X509Certificate2.CreateFromPem(certificatePem, privateKeyPem), certificatePem, privateKeyPem);

    /// <summary>
    /// A serving certificate (server authentication only) named <paramref name="commonName"/> for <paramref name="dnsNames"/>,
    /// valid for <see cref="Validity"/> but never past this CA, with its key, as PEM.
    /// </summary>
    public (string CertificatePem, string PrivateKeyPem) IssueServing(string commonName, IReadOnlyList<string> dnsNames, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(commonName);
        ArgumentNullException.ThrowIfNull(dnsNames);
        ArgumentOutOfRangeException.ThrowIfZero(dnsNames.Count);
        ArgumentNullException.ThrowIfNull(time);
        var now = time.GetUtcNow();
        var notAfter = now + Validity < NotAfter ? now + Validity : NotAfter;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], critical: false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var signed = request.Create(Certificate, now - ClockSkew, notAfter, SerialNumber());
        return (signed.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Whether <paramref name="certificate"/> was signed by this CA (and not by an earlier one of the same name).</summary>
    public bool Issued(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

        // Validity is judged by the caller against its own clock; this is only about the signature.
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(certificate) && chain.ChainElements[^1].Certificate.Thumbprint == Certificate.Thumbprint;
    }

    /// <summary>
    /// PEM of this CA followed by the still valid CAs of <paramref name="previousBundlePem"/>: during a rotation clients
    /// must trust both the new CA and the one that signed certificates still being served.
    /// </summary>
    public string TrustBundle(string? previousBundlePem, DateTimeOffset now)
    {
        var bundle = new System.Text.StringBuilder(CertificatePem.TrimEnd()).Append('\n');
        if (previousBundlePem is { Length: > 0 })
        {
            var older = new X509Certificate2Collection();
            older.ImportFromPem(previousBundlePem);
            foreach (var ca in older)
            {
                if (NotAfterOf(ca) > now && ca.Thumbprint != Certificate.Thumbprint)
                {
                    bundle.Append(ca.ExportCertificatePem()).Append('\n');
                }

                ca.Dispose();
            }
        }

        return bundle.ToString();
    }

    public static DateTimeOffset NotAfterOf(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
    }

    public void Dispose() => Certificate.Dispose();

    // RFC 5280: positive, at most 20 octets; random so that two issued in the same second differ.
    private static byte[] SerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return serial;
    }
}
