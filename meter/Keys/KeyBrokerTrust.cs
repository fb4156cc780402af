using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tollgate.Meter.Keys;

/// <summary>
/// TLS trust for the key broker: its certificate must name the host of <c>--key-broker</c> and chain to a certificate
/// of <c>--key-broker-ca</c>, and only those. The system's roots are not trusted: provider keys travel on this
/// connection, and the operator's CA is the only issuer that may speak for the broker.
/// </summary>
internal static class KeyBrokerTrust
{
    /// <exception cref="InvalidDataException">The file holds no PEM certificate.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static X509Certificate2Collection LoadBundle(string path)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException($"holds no readable PEM certificate: {ex.Message}", ex);
        }

        return authorities.Count > 0 ? authorities : throw new InvalidDataException("holds no PEM certificate");
    }

    public static RemoteCertificateValidationCallback CreateValidator(X509Certificate2Collection authorities) =>
        (_, certificate, presented, errors) => IsTrusted(authorities, certificate, presented, errors);

    internal static bool IsTrusted(X509Certificate2Collection authorities, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        // A name mismatch or no certificate at all is never forgiven; chain errors are re-decided against the bundle alone.
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
