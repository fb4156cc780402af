using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

using Tollgate.Core.Security;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The certificate authorities of <c>--upstream-ca</c>: trusted for upstream TLS in addition to the system trust store,
/// for a provider endpoint behind a private CA (a corporate gateway, an in-cluster mirror, the tests' fake provider).
/// </summary>
internal static class UpstreamTrust
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <inheritdoc cref="CertificateBundle.Load"/>
    public static X509Certificate2Collection LoadBundle(string path) => CertificateBundle.Load(path);

    /// <summary>
    /// Accepts what the system store accepts, and otherwise a chain that ends at a CA of the bundle. A name mismatch is
    /// never forgiven: the bundle extends whom the meter trusts, not what a certificate may claim.
    /// </summary>
    public static RemoteCertificateValidationCallback CreateValidator(X509Certificate2Collection bundle)
    {
        // NOTE: it may seem simpler to set SslOptions.CertificateChainPolicy to this policy. HOWEVER a custom-root policy
        // replaces the system store instead of adding to it, and the real providers must keep validating as before.
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(bundle);
        policy.ApplicationPolicy.Add(ServerAuthentication);

        return (_, certificate, chain, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is not X509Certificate2 leaf)
            {
                return false;
            }

            using var custom = new X509Chain { ChainPolicy = policy.Clone() };
            if (chain is not null)
            {
                // The intermediates the server sent.
                custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
            }

            try
            {
                return custom.Build(leaf);
            }
            finally
            {
                foreach (var element in custom.ChainElements)
                {
                    element.Certificate.Dispose();
                }
            }
        };
    }
}
