using StackExchange.Redis.Configuration;

namespace Tollgate.Core.Redis;

/// <summary>
/// Hands the Redis client the credential source's current user and password whenever it asks, which it does in each
/// connection's handshake (<c>ServerEndPoint.HandshakeAsync</c> reads <c>ConfigurationOptions.User</c>, then
/// <c>Password</c>; both fall through to <c>Defaults</c> when unset). StackExchange.Redis added user and password to
/// <see cref="DefaultOptionsProvider"/> so that wrappers return their "current" values as a token rotates (PR #2445).
/// </summary>
/// <remarks>
/// NOTE: it may seem simpler to set <c>ConfigurationOptions.Password</c> when a file changes (the multiplexer keeps the
/// options object it was given since 2.5, so a change applies at the next reconnect). HOWEVER nothing tells us when that
/// reconnect happens, so a watcher would race it; asking in the handshake itself cannot be late.
/// The user is read first: reading it takes a fresh credential, and the password read right after comes from the same
/// one, so a rotation between the two reads cannot pair a user with another user's password.
/// </remarks>
internal sealed class RotatingCredentials(IRedisLedgerCredentials source) : DefaultOptionsProvider
{
    private volatile RedisLedgerCredential _current = source.Current;

    public override string? User
    {
        get
        {
            var current = source.Current;
            _current = current;
            return current.User;
        }
    }

    public override string? Password => _current.Password;
}
