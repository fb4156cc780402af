namespace Tollgate.Core.Redis;

/// <summary>How <see cref="RedisConnection"/> connects and how long <see cref="RedisLedger"/> keeps what it writes.</summary>
public sealed record RedisLedgerOptions
{
    public const string DefaultKeyPrefix = "tollgate:{default}:";

    /// <summary>The Redis server, and the user and password to authenticate with (see <see cref="RedisLedgerAddress.Parse"/>).</summary>
    public required RedisLedgerAddress Address { get; init; }

    /// <summary>
    /// Asked for the user and password at every (re)connect instead of taking <see cref="Address"/>'s once, so a rotated
    /// password is used without a restart (a password file, a key broker). Null: the address's user and password.
    /// </summary>
    public IRedisLedgerCredentials? Credentials { get; init; }

    /// <summary>
    /// PEM file of the certificate authorities the server's certificate must chain to (<c>rediss://</c> only). When set,
    /// only these are trusted, not the system's roots; the certificate must name the address's host either way.
    /// </summary>
    public string? CaFile { get; init; }

    /// <summary>
    /// Where to open the socket instead of resolving the address's host, as curl's <c>--connect-to</c>: the host stays
    /// the name TLS verifies and sends as SNI. Tests use it to stand in for cluster DNS; null (always, outside tests)
    /// resolves the host.
    /// </summary>
    internal System.Net.EndPoint? ConnectTo { get; init; }

    /// <summary>PEM certificate presented to a server that asks for one (<c>rediss://</c> only).</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/>; null when that file holds the key too.</summary>
    public string? ClientKeyFile { get; init; }

    /// <summary>
    /// What the component needs: <see cref="RedisLedgerAccess.ReadWrite"/> (meters: reserve, settle, reclaim) or
    /// <see cref="RedisLedgerAccess.Read"/> (exporter, operator, tools: snapshots and the stream). The connection checks on
    /// every connect that its user may do it, and is not ready until then (<see cref="RedisConnection.IsReady"/>).
    /// </summary>
    public RedisLedgerAccess Access { get; init; } = RedisLedgerAccess.ReadWrite;

    /// <summary>
    /// Starts every key. It must hold a Redis Cluster hash tag (<c>{…}</c>), which puts every key of one ledger in one
    /// slot so a script may touch them all. Ledgers with different prefixes share nothing. Default <c>tollgate:{default}:</c>.
    /// </summary>
    public string KeyPrefix { get; init; } = DefaultKeyPrefix;

    /// <summary>
    /// How long a reservation holds its estimate before <see cref="RedisLedger.ReclaimExpiredAsync"/> may release it.
    /// Longer than any stream, so only a meter that died mid-request loses its lease. Default 10 minutes.
    /// </summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the ledger reclaims expired leases in the background. Default 30 seconds.</summary>
    public TimeSpan ReclaimInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time to connect before giving up (the ledger keeps reconnecting in the background). Default 1 second.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Time a command may take before it fails with <see cref="Ledger.LedgerUnavailableException"/>. Short, so that a Redis
    /// that hangs costs a request one second, not the client's whole timeout. Default 1 second.
    /// </summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a counter outlives the end of its period before Redis deletes it. Default 7 days.</summary>
    public TimeSpan CounterGrace { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long a settled request is remembered (so a replayed settle counts once) and a reclaimed reservation's
    /// counter keys are kept for its late settle. Default 3 days, the same window as the usage stream's request-id
    /// markers: meters replay their spools within seconds of Redis returning, so a replay this late means a spool
    /// restored from a backup; and each settled request costs one small key (~100 bytes) for this long, so a month-long
    /// window would hold some 4 GB of markers at a million requests a day.
    /// </summary>
    public TimeSpan SettledRetention { get; init; } = TimeSpan.FromDays(3);

    /// <summary>Options with defaults for a <c>redis[s]://[user[:password]@]host[:port][/db]</c> address.</summary>
    /// <exception cref="FormatException">The address is malformed.</exception>
    public static RedisLedgerOptions FromUrl(string url) => new() { Address = RedisLedgerAddress.Parse(url) };

    /// <summary>Printed instead of the options' members, so that no log line built from them can carry the password.</summary>
    public override string ToString() => Address.ToString();

    /// <exception cref="ArgumentException">An option is out of range; the message names it.</exception>
    internal void Validate()
    {
        var open = KeyPrefix.IndexOf('{', StringComparison.Ordinal);
        var close = open < 0 ? -1 : KeyPrefix.IndexOf('}', open + 1);
        if (close <= open + 1)
        {
            throw new ArgumentException(
                $"The Redis ledger key prefix '{KeyPrefix}' needs a non-empty hash tag such as '{DefaultKeyPrefix}', so that every ledger key lands in one Redis Cluster slot.",
                nameof(KeyPrefix));
        }

        if (!Address.Tls && (CaFile ?? ClientCertificateFile ?? ClientKeyFile) is not null)
        {
            throw new ArgumentException(
                $"A CA file or client certificate for the Redis ledger needs TLS: write the address {Address} as rediss://.", nameof(Address));
        }

        if (ClientKeyFile is not null && ClientCertificateFile is null)
        {
            throw new ArgumentException("A client key for the Redis ledger needs its client certificate file.", nameof(ClientKeyFile));
        }

        Positive(LeaseDuration, nameof(LeaseDuration));
        Milliseconds(ReclaimInterval, nameof(ReclaimInterval));
        Milliseconds(ConnectTimeout, nameof(ConnectTimeout));
        Milliseconds(OperationTimeout, nameof(OperationTimeout));
        Positive(CounterGrace, nameof(CounterGrace));
        Positive(SettledRetention, nameof(SettledRetention));
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"The Redis ledger option {name} must be positive, not {value}.", name);
        }
    }

    private static void Milliseconds(TimeSpan value, string name)
    {
        // Timers and the Redis client take whole milliseconds as an int.
        if (value < TimeSpan.FromMilliseconds(1) || value.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentException($"The Redis ledger option {name} must be from 1 ms to 24 days, not {value}.", name);
        }
    }
}
