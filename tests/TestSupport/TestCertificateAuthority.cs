using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tollgate.TestSupport;

/// <summary>
/// A throw-away certificate authority made in memory for one test run, and a server certificate it issued for
/// <c>localhost</c>, <c>127.0.0.1</c> and <c>::1</c>: HTTPS on loopback without touching any trust store. Clients trust it
/// explicitly (the meter through <c>--upstream-ca</c>, test clients through <see cref="CreateTrustingHandler"/>).
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    /// <summary>The server name the leaf certificate is issued to, and the only one a strict fake accepts in SNI.</summary>
    public const string ServerName = "localhost";

    // Wide enough for a slow CI run and for a little clock skew, short enough that a leaked key is worthless.
    private static readonly TimeSpan Backdate = TimeSpan.FromHours(1);
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(2);

    private TestCertificateAuthority(X509Certificate2 certificate, X509Certificate2 serverCertificate)
    {
        Certificate = certificate;
        ServerCertificate = serverCertificate;
    }

    /// <summary>The CA certificate (public part only): what a client adds to its trust.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The leaf a server presents, with its private key.</summary>
    public X509Certificate2 ServerCertificate { get; }

    /// <summary>The CA certificate as PEM, the format of <c>--upstream-ca</c>.</summary>
    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>Makes a new CA and leaf. Validity is relative to the real clock because TLS validation reads the real clock.</summary>
    public static TestCertificateAuthority Create()
    {
        var notBefore = DateTimeOffset.UtcNow - Backdate;
        var notAfter = notBefore + Lifetime;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Tollgate Test CA, O=Tollgate tests", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using var caWithKey = caRequest.CreateSelfSigned(notBefore, notAfter);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest($"CN={ServerName}", leafKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(ServerName);
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        leafRequest.CertificateExtensions.Add(names.Build(critical: false));
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        leafRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(leafRequest.PublicKey, critical: false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caWithKey, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var leaf = leafRequest.Create(caWithKey, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        using var leafWithKey = leaf.CopyWithPrivateKey(leafKey);

        // A PKCS#12 round trip gives the leaf a key SslStream can use on every platform (an ephemeral key is not always enough).
        var serverCertificate = X509CertificateLoader.LoadPkcs12(leafWithKey.Export(X509ContentType.Pkcs12), password: null);
        var certificate = X509CertificateLoader.LoadCertificate(caWithKey.Export(X509ContentType.Cert));
        return new TestCertificateAuthority(certificate, serverCertificate);
    }

    /// <summary>Writes <see cref="CertificatePem"/> to <paramref name="path"/> and returns the path.</summary>
    public string WritePem(string path)
    {
        File.WriteAllText(path, CertificatePem);
        return path;
    }

    /// <summary>
    /// A handler that trusts this CA only (not the system store), for tests that call a TLS fake directly. HTTP/2 is
    /// used when the request asks for it.
    /// </summary>
    public SocketsHttpHandler CreateTrustingHandler()
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(Certificate);
        return new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            SslOptions = { CertificateChainPolicy = policy },
        };
    }

    public void Dispose()
    {
        Certificate.Dispose();
        ServerCertificate.Dispose();
    }
}
