using Tollgate.Core.Ledger;

namespace Tollgate.TestSupport;

/// <summary>
/// A real embedded ledger whose backing store can be taken down and brought back, as a Redis outage or a full disk
/// would: while <see cref="Down"/>, every call fails with <see cref="LedgerUnavailableException"/>.
/// </summary>
public sealed class SwitchableLedger(EmbeddedLedger inner) : IBudgetLedger
{
    public EmbeddedLedger Inner => inner;

    public bool Down { get; set; }

    public string Name => "switchable";

    public bool IsReady => !Down;

    public ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken) =>
        Down ? throw Unavailable() : inner.ReserveAsync(requestId, charges, cancellationToken);

    public ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken) =>
        Down ? throw Unavailable() : inner.SettleAsync(requestId, charges, actual, cancellationToken);

    public ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        Down ? throw Unavailable() : inner.SnapshotAsync(now, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private static LedgerUnavailableException Unavailable() => new("connection refused");
}
