using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tollgate.Core.Security;

/// <summary>
/// A PEM bundle of certificate authorities named on a command line (<c>--upstream-ca</c>, <c>--key-broker-ca</c>,
/// <c>--ledger-ca</c>), and the one rule for trusting a server by such a bundle alone.
/// </summary>
public static class CertificateBundle
{
    /// <summary>Reads every certificate of a PEM file.</summary>
    /// <exception cref="InvalidDataException">The path is a directory, or the file holds no readable PEM certificate; the message completes "the file …".</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    public static X509Certificate2Collection Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            throw new InvalidDataException("is a directory, not a PEM file");
        }

        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPemFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException($"is not a PEM certificate bundle ({ex.Message})", ex);
        }

        return bundle.Count > 0 ? bundle : throw new InvalidDataException("holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)");
    }

    /// <summary>
    /// Whether a server is trusted by <paramref name="authorities"/> and nothing else: its certificate must name the host
    /// (a name mismatch or a missing certificate is never forgiven) and chain to one of them; the system's roots do not
    /// count, so the bundle pins the issuer instead of adding to the roots.
    /// </summary>
    public static bool PinsServer(X509Certificate2Collection authorities, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        ArgumentNullException.ThrowIfNull(authorities);
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(leaf);
    }
}
