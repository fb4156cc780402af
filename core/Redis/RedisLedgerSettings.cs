namespace Tollgate.Core.Redis;

/// <summary>
/// How a command line or configuration names the Redis ledger: the address, and files for what must not appear in it.
/// The password comes from a file (a mounted Secret) so that it shows neither in <c>ps</c> nor in a pod spec.
/// </summary>
/// <param name="Address"><c>redis[s]://[user[:password]@]host[:port][/db]</c>.</param>
/// <param name="User">The ACL user, when the address names none (<c>--ledger-user</c>).</param>
/// <param name="PasswordFile">A file holding the password alone; one trailing newline is ignored (<c>--ledger-password-file</c>).</param>
/// <param name="CaFile">PEM certificate authorities for <c>rediss://</c> (<c>--ledger-ca</c>).</param>
/// <param name="CertificateFile">PEM client certificate for <c>rediss://</c> (<c>--ledger-cert</c>).</param>
/// <param name="KeyFile">PEM key of the client certificate, unless that file holds it (<c>--ledger-key</c>).</param>
public sealed record RedisLedgerSettings(
    string Address, string? User = null, string? PasswordFile = null, string? CaFile = null, string? CertificateFile = null, string? KeyFile = null)
{
    /// <summary>
    /// Reads the password file and every certificate file, and checks that the settings agree. With a password file the
    /// options carry it as <see cref="RedisLedgerOptions.Credentials"/>, read again at every (re)connect.
    /// </summary>
    /// <exception cref="FormatException">The address is malformed, a file cannot be read, or two settings disagree; the message never holds the password.</exception>
    public RedisLedgerOptions ToOptions(RedisLedgerAccess access)
    {
        var address = RedisLedgerAddress.Parse(Address);
        RedisLedgerPasswordFile? credentials = null;
        if (User is { Length: > 0 } user)
        {
            if (address.User is { } named && named != user)
            {
                throw new FormatException($"The Redis ledger user '{user}' differs from the user '{named}' in the address {address}.");
            }

            address = address with { User = user };
        }

        if (PasswordFile is { Length: > 0 } passwordFile)
        {
            if (address.Password is not null)
            {
                throw new FormatException($"The Redis ledger address {address} holds a password and a password file is given too; keep the file alone.");
            }

            credentials = new RedisLedgerPasswordFile(address.User, passwordFile);
            address = address with { Password = credentials.Current.Password };
        }

        var options = new RedisLedgerOptions
        {
            Address = address,
            CaFile = Blank(CaFile),
            ClientCertificateFile = Blank(CertificateFile),
            ClientKeyFile = Blank(KeyFile),
            Access = access,
            Credentials = credentials,
        };
        try
        {
            options.Validate();
            RedisLedgerTls.CheckFiles(options);
        }
        catch (ArgumentException ex)
        {
            throw new FormatException(ex.Message, ex);
        }

        return options;
    }

    /// <summary>The settings as they may be printed: the address with its password masked.</summary>
    public override string ToString() => RedisLedgerAddress.Redact(Address);

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
