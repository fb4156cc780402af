using Tollgate.Core.Ledger;

namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// A real ledger with test hooks on reservations: <see cref="HoldFirst"/> keeps the first admitted request in flight
/// (its reservation is made in the real ledger, then the call waits for <see cref="Release"/>),
/// <see cref="Rewrite"/> replaces estimates before the real ledger sees them (a meter fault, to see the ledger
/// refuse), and <see cref="BeforeReserve"/> runs first (to throw, or to wait on the request's token as a slow ledger
/// does). Everything else goes straight to the real ledger, which decides and records as in production.
/// </summary>
internal sealed class GatedLedger(IBudgetLedger inner) : IBudgetLedger
{
    private readonly TaskCompletionSource<IReadOnlyList<LedgerCharge>> _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IBudgetLedger Inner => inner;

    /// <summary>Hold the first request the real ledger admits, whatever it reserved.</summary>
    public bool HoldFirst { get; init; }

    public Func<LedgerCharge, LedgerCharge>? Rewrite { get; init; }

    /// <summary>Runs before each reservation with its request id, charges and the request's token; what it throws, the ledger throws.</summary>
    public Func<string, IReadOnlyList<LedgerCharge>, CancellationToken, Task>? BeforeReserve { get; init; }

    /// <summary>Completes with the held request's charges once its reservation is in the real ledger.</summary>
    public Task<IReadOnlyList<LedgerCharge>> Held => _held.Task;

    public string Name => inner.Name;

    public bool IsReady => inner.IsReady;

    public void Release() => _released.TrySetResult();

    public async ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken)
    {
        if (BeforeReserve is { } before)
        {
            await before(requestId, charges, cancellationToken);
        }

        if (Rewrite is { } rewrite)
        {
            charges = charges.Select(rewrite).ToArray();
        }

        var result = await inner.ReserveAsync(requestId, charges, cancellationToken);
        if (result.Allowed && HoldFirst && _held.TrySetResult(charges))
        {
            // Not the request's token: the point is a reservation that outlives whatever its client does.
            await _released.Task;
        }

        return result;
    }

    public ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken) =>
        inner.SettleAsync(requestId, charges, actual, cancellationToken);

    public ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        inner.SnapshotAsync(now, cancellationToken);

    public ValueTask DisposeAsync()
    {
        Release();
        return inner.DisposeAsync();
    }
}
