using StackExchange.Redis;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Redis;

/// <summary>
/// Runs a <see cref="RedisScript"/> by its hash (loading it again when the server lost its script cache) and turns
/// every way Redis can be unavailable into <see cref="LedgerUnavailableException"/>, so callers apply one failure policy.
/// </summary>
internal sealed class RedisScriptRunner(IConnectionMultiplexer connection, IDatabase database, string what)
{
    private readonly IDatabase _database = database;

    public IDatabase Database => _database;

    public Task<RedisResult> EvaluateAsync(RedisScript script, RedisKey[] keys, RedisValue[] values, CancellationToken cancellationToken) =>
        ExecuteAsync(
            async database =>
            {
                try
                {
                    return await database.ScriptEvaluateAsync(script.Hash, keys, values);
                }
                catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
                {
                    // The server lost its script cache (a restart, a failover or SCRIPT FLUSH); EVAL runs and caches it again.
                    return await database.ScriptEvaluateAsync(script.Text, keys, values);
                }
            },
            cancellationToken);

    /// <summary>Runs any command, failing fast while disconnected and mapping every kind of unavailability.</summary>
    public async Task<T> ExecuteAsync<T>(Func<IDatabase, Task<T>> command, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!connection.IsConnected)
        {
            throw new LedgerUnavailableException($"{what} is not connected");
        }

        try
        {
            return await command(_database).WaitAsync(cancellationToken);
        }
        catch (RedisConnectionException ex)
        {
            throw new LedgerUnavailableException($"{what} cannot be reached: {ex.Message}", ex);
        }
        catch (RedisTimeoutException ex)
        {
            throw new LedgerUnavailableException($"{what} did not answer in time: {ex.Message}", ex);
        }
        catch (RedisServerException ex) when (IsDenied(ex))
        {
            throw new LedgerAccessDeniedException($"{what} refused the command: {ex.Message}", ex);
        }
        catch (RedisServerException ex) when (IsUnavailable(ex))
        {
            throw new LedgerUnavailableException($"{what} cannot serve requests: {ex.Message}", ex);
        }
    }

    private static readonly string[] DeniedPrefixes = ["NOPERM", "NOAUTH", "WRONGPASS"];

    private static readonly string[] UnavailablePrefixes = ["LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "OOM"];

    /// <summary>
    /// A server loading its data, running a long script, just demoted to replica, or out of memory: transient, not a bug.
    /// The error code is the whole first word (BUSY is transient, BUSYGROUP is not).
    /// </summary>
    public static bool IsUnavailable(RedisServerException ex) => HasCode(ex, UnavailablePrefixes);

    /// <summary>The ACL refused the command or its keys, or the connection is not authenticated.</summary>
    public static bool IsDenied(RedisServerException ex) =>
        HasCode(ex, DeniedPrefixes)

        // Inside a script Redis 7.0 reports an ACL refusal as a plain ERR ("The user executing the script can't run this command…").
        || ex.Message.Contains("The user executing the script can't", StringComparison.Ordinal);

    private static bool HasCode(RedisServerException ex, string[] codes) =>
        Array.Exists(codes, prefix => ex.Message.StartsWith(prefix, StringComparison.Ordinal)
            && (ex.Message.Length == prefix.Length || ex.Message[prefix.Length] == ' '));
}
