namespace Tollgate.Core.Redis;

/// <summary>
/// Where the Redis ledger gets its user and password, asked at every (re)connect: a rotated password (a rewritten
/// Secret file, a key broker's answer) is used from the next connection on, without a restart.
/// </summary>
public interface IRedisLedgerCredentials
{
    /// <summary>
    /// The credential to authenticate the next connection with. Called by the Redis client's connection handshake, so it
    /// must be quick and must not throw: a source that cannot refresh keeps answering with its last good credential.
    /// </summary>
    RedisLedgerCredential Current { get; }
}
