using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using StackExchange.Redis;
using Tollgate.Core.Security;

namespace Tollgate.Core.Redis;

/// <summary>Turns <see cref="RedisLedgerOptions"/>' credentials and TLS files into the Redis client's configuration.</summary>
internal static class RedisLedgerTls
{
    /// <summary>Sets user, password and, for <c>rediss://</c>, TLS with host verification, the CA file and the client certificate.</summary>
    /// <exception cref="ArgumentException">A CA or certificate file cannot be read; the message names the file.</exception>
    public static void Apply(ConfigurationOptions configuration, RedisLedgerOptions options)
    {
        var address = options.Address;
        if (options.Credentials is { } credentials)
        {
            // Left unset on the configuration, user and password fall through to its Defaults, which the client reads in
            // every connection's handshake: the extension point StackExchange.Redis made for rotating credentials.
            configuration.Defaults = new RotatingCredentials(credentials);
        }
        else
        {
            configuration.User = address.User;
            configuration.Password = address.Password;
        }

        if (!address.Tls)
        {
            return;
        }

        configuration.Ssl = true;

        // The name the certificate must carry and the SNI sent: the host the user wrote, never one learnt from the server.
        configuration.SslHost = address.Host;
        configuration.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        if (options.CaFile is { } caFile)
        {
            // Read again at every handshake (a reconnect, so rarely): a CA bundle mounted from a Secret or ConfigMap is
            // replaced in place when the CA is rotated, and a client that kept the bundle of its start would refuse the
            // renewed server certificate until restarted. A file that cannot be read then keeps the last good bundle.
            var authorities = LoadAuthorities(caFile);
            configuration.CertificateValidation += (_, certificate, chain, errors) =>
            {
                authorities = TryLoadAuthorities(caFile) ?? authorities;
                return IsTrusted(authorities, certificate, chain, errors);
            };
        }

        if (options.ClientCertificateFile is { } certificateFile)
        {
            var certificate = LoadClientCertificate(certificateFile, options.ClientKeyFile);
            configuration.CertificateSelection += (_, _, _, _, _) => certificate;
        }
    }

    /// <summary>Reads every file the options name, so a command line can refuse a bad one before starting.</summary>
    /// <exception cref="ArgumentException">A file cannot be read or holds no certificate.</exception>
    public static void CheckFiles(RedisLedgerOptions options)
    {
        if (options.CaFile is { } caFile)
        {
            _ = LoadAuthorities(caFile);
        }

        if (options.ClientCertificateFile is { } certificateFile)
        {
            using var certificate = LoadClientCertificate(certificateFile, options.ClientKeyFile);
        }
    }

    /// <summary>A CA file pins the ledger's issuer instead of adding to the system's roots.</summary>
    internal static bool IsTrusted(X509Certificate2Collection authorities, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors) =>
        CertificateBundle.PinsServer(authorities, certificate, presented, errors);

    private static X509Certificate2Collection? TryLoadAuthorities(string path)
    {
        try
        {
            return LoadAuthorities(path);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static X509Certificate2Collection LoadAuthorities(string path)
    {
        try
        {
            return CertificateBundle.Load(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"The Redis ledger CA file '{path}' cannot be read: {ex.Message}", nameof(path), ex);
        }
        catch (InvalidDataException ex)
        {
            throw new ArgumentException($"The Redis ledger CA file '{path}' {ex.Message}.", nameof(path), ex);
        }
    }

    private static X509Certificate2 LoadClientCertificate(string certificateFile, string? keyFile)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ArgumentException(
                $"The Redis ledger client certificate '{certificateFile}'{(keyFile is null ? string.Empty : $" with key '{keyFile}'")} cannot be loaded: {ex.Message}",
                nameof(certificateFile), ex);
        }
    }
}
