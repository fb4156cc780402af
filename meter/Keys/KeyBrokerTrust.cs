using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

using Tollgate.Core.Security;

namespace Tollgate.Meter.Keys;

/// <summary>
/// TLS trust for the key broker: its certificate must name the host of <c>--key-broker</c> and chain to a certificate
/// of <c>--key-broker-ca</c>, and only those. The system's roots are not trusted: provider keys travel on this
/// connection, and the operator's CA is the only issuer that may speak for the broker.
/// </summary>
internal static class KeyBrokerTrust
{
    /// <inheritdoc cref="CertificateBundle.Load"/>
    public static X509Certificate2Collection LoadBundle(string path) => CertificateBundle.Load(path);

    public static RemoteCertificateValidationCallback CreateValidator(X509Certificate2Collection authorities) =>
        (_, certificate, presented, errors) => IsTrusted(authorities, certificate, presented, errors);

    internal static bool IsTrusted(X509Certificate2Collection authorities, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors) =>
        CertificateBundle.PinsServer(authorities, certificate, presented, errors);
}
