using System.Globalization;

namespace Tollgate.Core.Redis;

/// <summary>
/// Where the Redis ledger lives and who connects: <c>redis://[user[:password]@]host[:port][/db]</c>, or <c>rediss://…</c>
/// for TLS (port 6379 and database 0 by default).
/// </summary>
/// <remarks>
/// <see cref="ToString"/> never prints the password, so the address may be logged; the password belongs in a file
/// (<c>--ledger-password-file</c>) rather than the URL, which shows in process listings and pod specs.
/// </remarks>
public sealed record RedisLedgerAddress(string Host, int Port, int Database)
{
    public const int DefaultPort = 6379;

    /// <summary>What a redacted address shows instead of its password.</summary>
    public const string Mask = "***";

    private const string PlainScheme = "redis://";
    private const string TlsScheme = "rediss://";
    private const string Expected = "expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS";

    /// <summary>The ACL user; null for Redis's <c>default</c> user.</summary>
    public string? User { get; init; }

    /// <summary>The password; null to connect without authenticating. Never printed.</summary>
    public string? Password { get; init; }

    /// <summary>True for <c>rediss://</c>: the connection is TLS and the server's certificate must name <see cref="Host"/>.</summary>
    public bool Tls { get; init; }

    /// <summary>Parses <c>redis[s]://[user[:password]@]host[:port][/db]</c>; IPv6 hosts go in brackets, user and password are percent-decoded.</summary>
    /// <exception cref="FormatException">The text is not such an address; the message names the part that is wrong and never contains the password.</exception>
    public static RedisLedgerAddress Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new FormatException($"The Redis ledger address is empty; {Expected}.");
        }

        text = text.Trim();
        var tls = text.StartsWith(TlsScheme, StringComparison.OrdinalIgnoreCase);
        if (!tls && !text.StartsWith(PlainScheme, StringComparison.OrdinalIgnoreCase))
        {
            var colon = text.IndexOf("://", StringComparison.Ordinal);
            var scheme = colon > 0 ? text[..(colon + 3)] : "no scheme";
            throw Bad(text, $"the scheme must be redis:// or rediss://, not {Redact(scheme)}");
        }

        var rest = text[(tls ? TlsScheme.Length : PlainScheme.Length)..];
        string? user = null;
        string? password = null;

        // The last '@' ends the credentials: a password may hold '@' itself, the host and database never do.
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            (user, password) = SplitCredentials(text, rest[..at]);
            rest = rest[(at + 1)..];
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

        return new RedisLedgerAddress(host, port, database) { User = user, Password = password, Tls = tls };
    }

    /// <summary>
    /// The text of an address, parsed or not, with any password replaced by <see cref="Mask"/>: for printing what a
    /// user typed (an error, a usage line) without first knowing whether it is valid.
    /// </summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var at = text.LastIndexOf('@');
        if (at < 0 || at < scheme)
        {
            return text;
        }

        var start = scheme < 0 ? 0 : scheme + 3;
        var colon = text.IndexOf(':', start);
        return colon < 0 || colon > at ? text : string.Concat(text.AsSpan(0, colon + 1), Mask, text.AsSpan(at));
    }

    /// <summary>The URL with the password masked: safe for logs, metrics and errors.</summary>
    public override string ToString()
    {
        var credentials = (User, Password) switch
        {
            (null, null) => string.Empty,
            (_, null) => Uri.EscapeDataString(User!) + "@",
            _ => $"{(User is null ? string.Empty : Uri.EscapeDataString(User))}:{Mask}@",
        };
        var host = Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;
        return string.Create(CultureInfo.InvariantCulture, $"{(Tls ? TlsScheme : PlainScheme)}{credentials}{host}:{Port}/{Database}");
    }

    private static (string? User, string? Password) SplitCredentials(string text, string userInfo)
    {
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon >= 0 ? userInfo[..colon] : userInfo);
        var password = colon >= 0 ? Uri.UnescapeDataString(userInfo[(colon + 1)..]) : null;
        if (password is { Length: 0 })
        {
            throw Bad(text, "the password after ':' is empty");
        }

        if (user.Length == 0 && password is null)
        {
            throw Bad(text, "the user before '@' is empty");
        }

        return (user.Length == 0 ? null : user, password);
    }

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
        new($"'{Redact(text)}' is not a valid Redis ledger address: {problem}; {Expected}.");
}
