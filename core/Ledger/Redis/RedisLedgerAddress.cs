using System.Globalization;

namespace Tollgate.Core.Ledger.Redis;

/// <summary>Where the Redis ledger lives, written <c>redis://host[:port][/db]</c> (port 6379 and database 0 by default).</summary>
/// <remarks>
/// NOTE: credentials and TLS (<c>rediss://</c>) are refused rather than half supported: a password in a URL ends up
/// in logs and process listings, so it deserves its own option when a deployment needs it.
/// </remarks>
public sealed record RedisLedgerAddress(string Host, int Port, int Database)
{
    public const int DefaultPort = 6379;

    private const string Scheme = "redis://";
    private const string Expected = "expected redis://host[:port][/db]";

    /// <summary>Parses <c>redis://host[:port][/db]</c>; IPv6 hosts go in brackets (<c>redis://[::1]:6379</c>).</summary>
    /// <exception cref="FormatException">The text is not such an address; the message names the part that is wrong.</exception>
    public static RedisLedgerAddress Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new FormatException($"The Redis ledger address is empty; {Expected}.");
        }

        text = text.Trim();
        if (text.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            throw Bad(text, "TLS (rediss://) is not supported");
        }

        if (!text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            var colon = text.IndexOf("://", StringComparison.Ordinal);
            var scheme = colon > 0 ? text[..(colon + 3)] : "no scheme";
            throw Bad(text, $"the scheme must be redis://, not {scheme}");
        }

        var rest = text[Scheme.Length..];
        if (rest.Contains('@', StringComparison.Ordinal))
        {
            // Never echo the text: the part before '@' is a password.
            throw new FormatException($"The Redis ledger address has a user or password before '@', which is not supported; {Expected}.");
        }

        var extra = rest.IndexOfAny(['?', '#']);
        if (extra >= 0)
        {
            throw Bad(text, $"'{rest[extra..]}' is not supported");
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash >= 0 ? rest[..slash] : rest;
        var path = slash >= 0 ? rest[(slash + 1)..] : string.Empty;
        var (host, portText) = SplitHostAndPort(text, authority);

        if (host.Length == 0)
        {
            throw Bad(text, "the host is missing");
        }

        if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
        {
            throw Bad(text, $"the host '{host}' is not a host name or IP address");
        }

        var port = DefaultPort;
        if (portText is not null
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            throw Bad(text, $"the port '{portText}' is not a number from 1 to 65535");
        }

        var database = 0;
        if (path.Length > 0 && !int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out database))
        {
            throw Bad(text, $"the database '{path}' is not a number from 0 up");
        }

        return new RedisLedgerAddress(host, port, database);
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Scheme}{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}/{Database}");

    private static (string Host, string? Port) SplitHostAndPort(string text, string authority)
    {
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw Bad(text, $"the IPv6 host '{authority}' lacks its closing ']'");
            }

            var after = authority[(close + 1)..];
            if (after.Length > 0 && after[0] != ':')
            {
                throw Bad(text, $"'{after}' after the IPv6 host is not ':port'");
            }

            return (authority[1..close], after.Length > 0 ? after[1..] : null);
        }

        var colon = authority.IndexOf(':', StringComparison.Ordinal);
        return colon >= 0 ? (authority[..colon], authority[(colon + 1)..]) : (authority, null);
    }

    private static FormatException Bad(string text, string problem) =>
        new($"'{text}' is not a valid Redis ledger address: {problem}; {Expected}.");
}
