using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Redis;

/// <summary>
/// A process's one connection to the Redis that holds the cluster's shared state: the ledger's counters, the usage
/// stream and the rate-limit windows. It owns the client: the address, credentials (asked again at every reconnect),
/// TLS, the fail-fast and least-privilege settings, the background reconnect, the probe of what this component's user
/// may do, and the scripts run on it. <see cref="RedisLedger"/>, the usage stream and the rate limiter each take it;
/// the process creates one and disposes it after them.
/// </summary>
/// <remarks>
/// <para>
/// A Redis that is down, slow (<see cref="RedisLedgerOptions.OperationTimeout"/>) or loading its data set makes every
/// command fail at once with <see cref="LedgerUnavailableException"/> instead of queueing, so each caller's failure policy
/// decides; the connection heals in the background and <see cref="IsReady"/> tells when. A refusal by the ACL is
/// <see cref="LedgerAccessDeniedException"/>.
/// </para>
/// <para>
/// One socket per process: StackExchange.Redis would add a pub/sub socket per multiplexer for its configuration channel,
/// which this connection turns off, so <c>CLIENT LIST</c> shows one client named <see cref="ClientName"/> per process
/// (tests/Meter.Tests/RedisConnectionCountTests checks it against a real server).
/// </para>
/// </remarks>
public sealed class RedisConnection : IAsyncDisposable
{
    /// <summary>The name the connection gives itself (<c>CLIENT SETNAME</c>), as <c>CLIENT LIST</c> shows it.</summary>
    public const string ClientName = "tollgate-ledger";

    /// <summary>How often a connection whose user was refused asks again (an operator may fix the ACL without restarting us).</summary>
    private static readonly TimeSpan AccessRecheck = TimeSpan.FromSeconds(5);

    // Probes what the component will do, without changing anything: ZADD XX never adds, and no request id holds a NUL.
    // KEYS: the ledger's leases (read-write) or index (read), the keys a meter writes and a reader reads first.
    private static readonly RedisScript WriteProbe = new("return redis.call('ZADD', KEYS[1], 'XX', '0', ARGV[1])");
    private static readonly RedisScript ReadProbe = new("return redis.call('ZCARD', KEYS[1])");
    private const string ProbeMember = "\0tollgate-access-probe";

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisLedgerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposing = new();
    private int _disposed;
    private int _checkingAccess;
    private volatile bool _accessVerified;
    private string? _accessDenied;
    private long _accessCheckedAtTicks;

    private RedisConnection(IConnectionMultiplexer multiplexer, RedisLedgerOptions options, TimeProvider time, ILogger logger)
    {
        _multiplexer = multiplexer;
        _options = options;
        _time = time;
        _logger = logger;
        Scripts = new RedisScriptRunner(multiplexer, multiplexer.GetDatabase(options.Address.Database), $"the Redis ledger at {options.Address}");
        _multiplexer.ConnectionFailed += OnConnectionFailed;
        _multiplexer.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>The address, credentials, key prefix and timeouts every user of this connection shares.</summary>
    public RedisLedgerOptions Options => _options;

    /// <summary>
    /// True while the connection to Redis is up and the server let this connection's user do what its
    /// <see cref="RedisLedgerOptions.Access"/> needs (checked once per connection, and again every few seconds while refused).
    /// </summary>
    public bool IsReady
    {
        get
        {
            if (!_multiplexer.IsConnected)
            {
                return false;
            }

            if (_accessVerified)
            {
                return true;
            }

            if (_time.GetUtcNow().UtcTicks - Volatile.Read(ref _accessCheckedAtTicks) >= AccessRecheck.Ticks)
            {
                _ = CheckAccessAsync();
            }

            return false;
        }
    }

    /// <summary>Why Redis refused this connection's user, or null (connected and allowed, or not connected at all).</summary>
    public string? AccessDenied => Volatile.Read(ref _accessDenied);

    /// <summary>Runs scripts and commands on this connection, mapping every kind of unavailability.</summary>
    internal RedisScriptRunner Scripts { get; }

    /// <summary>The ledger's sorted set of reservations by lease deadline.</summary>
    internal RedisKey LeasesKey => _options.KeyPrefix + "leases";

    /// <summary>The ledger's sorted set of counters by period end.</summary>
    internal RedisKey IndexKey => _options.KeyPrefix + "index";

    /// <inheritdoc cref="ConnectAsync(RedisLedgerOptions, TimeProvider, ILogger, CancellationToken)"/>
    public static Task<RedisConnection> ConnectAsync(RedisLedgerOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        ConnectAsync(options, time, NullLogger.Instance, cancellationToken);

    /// <summary>
    /// Connects to <see cref="RedisLedgerOptions.Address"/>. A Redis that cannot be reached does not fail this call: the
    /// connection starts not ready (<see cref="IsReady"/> false) and keeps reconnecting, so a process can start before Redis.
    /// </summary>
    /// <param name="logger">Gets the connection's events (lost, restored, refused); the processes pass the ledger's category.</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static async Task<RedisConnection> ConnectAsync(RedisLedgerOptions options, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        var configuration = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = Milliseconds(options.ConnectTimeout),
            SyncTimeout = Milliseconds(options.OperationTimeout),
            AsyncTimeout = Milliseconds(options.OperationTimeout),
            DefaultDatabase = options.Address.Database,
            ClientName = ClientName,

            // Least privilege: the client's tie-breaker key and its configuration channel (pub/sub) are features the
            // ledger's ACL users are not granted, so the client must not ask for them.
            TieBreaker = string.Empty,
            ConfigurationChannel = string.Empty,

            // CONFIG GET (the client's probe of server settings) would also read replication passwords, so no user has it.
            CommandMap = CommandMap.Create(new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "CONFIG" }, available: false),

            // Fail commands at once while disconnected: a queued reserve would hold the request for the whole timeout.
            BacklogPolicy = BacklogPolicy.FailFast,

            // Come back within about a second of Redis returning, without hammering a Redis that stays down.
            ReconnectRetryPolicy = new ExponentialRetry(250, 5_000),
        };
        configuration.EndPoints.Add(options.Address.Host, options.Address.Port);
        RedisLedgerTls.Apply(configuration, options);
        if (options.ConnectTo is { } connectTo)
        {
            configuration.Tunnel = new ConnectToTunnel(connectTo);
        }

        var connecting = ConnectionMultiplexer.ConnectAsync(configuration);
        ConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await connecting.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            _ = connecting.ContinueWith(static task => task.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }

        var connection = new RedisConnection(multiplexer, options, time, logger);
        if (multiplexer.IsConnected)
        {
            await connection.CheckAccessAsync();
        }

        return connection;
    }

    /// <summary>Closes the connection, letting commands already sent complete. Dispose its users first.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _disposing.CancelAsync();
        _multiplexer.ConnectionFailed -= OnConnectionFailed;
        _multiplexer.ConnectionRestored -= OnConnectionRestored;
        await _multiplexer.CloseAsync(allowCommandsToComplete: true);
        await _multiplexer.DisposeAsync();
        _disposing.Dispose();
    }

    /// <summary>A client timeout; options validation keeps it within an int.</summary>
    private static int Milliseconds(TimeSpan value) => (int)Math.Ceiling(value.TotalMilliseconds);

    /// <summary>
    /// Runs the probe of <see cref="RedisLedgerOptions.Access"/>: a meter's user must be able to run scripts that write
    /// the leases, a reader's to run scripts that read the index. A refusal is logged once and makes the connection not ready.
    /// </summary>
    private async Task CheckAccessAsync()
    {
        if (Interlocked.Exchange(ref _checkingAccess, 1) == 1)
        {
            return;
        }

        try
        {
            Volatile.Write(ref _accessCheckedAtTicks, _time.GetUtcNow().UtcTicks);
            var write = _options.Access == RedisLedgerAccess.ReadWrite;
            await Scripts.EvaluateAsync(write ? WriteProbe : ReadProbe, [write ? LeasesKey : IndexKey], write ? [ProbeMember] : [], _disposing.Token);
            _accessVerified = true;
            if (Interlocked.Exchange(ref _accessDenied, null) is not null)
            {
                RedisConnectionLog.AccessGranted(_logger, _options.Address);
            }
        }
        catch (LedgerAccessDeniedException ex)
        {
            _accessVerified = false;
            if (Interlocked.Exchange(ref _accessDenied, ex.Message) is null)
            {
                RedisConnectionLog.AccessDenied(_logger, _options.Address, CurrentUser, _options.Access.ToString(), ex.Message);
            }
        }
        catch (LedgerUnavailableException)
        {
            // Lost again before the probe ran; the next restore or readiness check probes again.
        }
        catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            Volatile.Write(ref _checkingAccess, 0);
        }
    }

    /// <summary>The user the connection authenticates as now, for log lines (a credential source may change it).</summary>
    private string CurrentUser => (_options.Credentials?.Current.User ?? _options.Address.User) ?? "default";

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        _accessVerified = false;
        if (e.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            RedisConnectionLog.AuthenticationFailed(_logger, _options.Address, CurrentUser);
        }
        else
        {
            RedisConnectionLog.ConnectionLost(_logger, _options.Address, e.FailureType.ToString());
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        RedisConnectionLog.ConnectionRestored(_logger, _options.Address);
        _ = CheckAccessAsync();
    }
}
