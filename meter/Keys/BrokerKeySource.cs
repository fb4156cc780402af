using Tollgate.Core.Redis;
using Tollgate.Core.Routing;

namespace Tollgate.Meter.Keys;

/// <summary>
/// Keys the key broker gave, in memory only. The refresher swaps in a whole new <see cref="KeySet"/>; readers take the
/// current one with one volatile read, so the request path neither locks nor allocates and never sees half an answer.
/// </summary>
internal sealed class BrokerKeySource(TimeProvider time) : IKeySource
{
    private volatile State _state = new(null, null, null, 0, "not asked yet");

    public bool Available => _state.Keys is not null;

    public KeySet? Current => _state.Keys;

    /// <summary>When the broker last answered, or null if it never has.</summary>
    public DateTimeOffset? AnsweredAt => _state.AnsweredAt;

    /// <summary>When the last fetch, successful or not, finished.</summary>
    public DateTimeOffset? AttemptedAt => _state.AttemptedAt;

    /// <summary>Failed fetches since the broker last answered.</summary>
    public int Failures => _state.Failures;

    /// <summary>What the last fetch ended with (<c>ok</c>, or the failure's outcome and reason); never holds a key.</summary>
    public string LastOutcome => _state.LastOutcome;

    public string? ProviderKey(string provider) => _state.Keys?.ProviderKeys.GetValueOrDefault(provider);

    public string Secret(SecretKeyReference reference)
    {
        var keys = _state.Keys ?? throw new IOException($"API key of Secret \"{reference.Name}\" key \"{reference.Key}\" is not known: the key broker has not answered yet");
        if (!keys.Secrets.TryGetValue(reference.Name, out var secret))
        {
            throw new IOException($"API key of Secret \"{reference.Name}\" key \"{reference.Key}\" is not known: the key broker gave no Secret \"{reference.Name}\" (it must exist in tollgate-system)");
        }

        return secret.TryGetValue(reference.Key, out var value)
            ? value
            : throw new IOException($"API key of Secret \"{reference.Name}\" key \"{reference.Key}\" is not known: the key broker's Secret \"{reference.Name}\" has no key \"{reference.Key}\"");
    }

    public void Answered(KeySet keys)
    {
        var now = time.GetUtcNow();
        _state = new State(keys, now, now, 0, "ok");
    }

    public void Failed(string outcome, string reason)
    {
        var state = _state;
        _state = state with { AttemptedAt = time.GetUtcNow(), Failures = state.Failures + 1, LastOutcome = outcome + ": " + reason };
    }

    /// <summary>
    /// Why the broker's credentials are stale, or null: it has not answered for longer than <paramref name="periods"/>
    /// refresh periods (or has never answered).
    /// </summary>
    public string? Staleness(int periods)
    {
        var state = _state;
        if (state.Keys is null)
        {
            return $"key broker has not answered yet (last: {state.LastOutcome})";
        }

        var silent = time.GetUtcNow() - state.AnsweredAt!.Value;
        return silent > state.Keys.Refresh * periods
            ? $"key broker has not answered for {(long)silent.TotalSeconds} s (last: {state.LastOutcome}); serving the credentials it gave last"
            : null;
    }

    /// <summary>The ledger's credential as the broker gives it, asked at every ledger (re)connect.</summary>
    /// <param name="user">The user the address or <c>--ledger-user</c> names, which wins over the broker's.</param>
    public IRedisLedgerCredentials LedgerCredentials(string? user) => new LedgerSource(this, user);

    private sealed record State(KeySet? Keys, DateTimeOffset? AnsweredAt, DateTimeOffset? AttemptedAt, int Failures, string LastOutcome);

    private sealed class LedgerSource(BrokerKeySource broker, string? user) : IRedisLedgerCredentials
    {
        // Before the broker's first answer (or with none in it) the ledger connects without a password, is refused,
        // and the client's reconnect loop asks again; the broker's answer is used from the next attempt on.
        public RedisLedgerCredential Current =>
            broker._state.Keys?.Ledger is { } ledger ? ledger with { User = user ?? ledger.User } : new RedisLedgerCredential(user, null);
    }
}
