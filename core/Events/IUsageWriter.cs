using Tollgate.Core.Ledger;

namespace Tollgate.Core.Events;

/// <summary>Commits usage records: settles each one's charges in the ledger and appends its event to the usage sink.</summary>
public interface IUsageWriter
{
    /// <summary>Commits the records, in order.</summary>
    /// <param name="records">The records; each is idempotent by request id, so any of them may already be applied.</param>
    /// <param name="refused">
    /// Told of a record whose amounts the ledger refuses (<see cref="LedgerAmountException"/>): its charges are not
    /// settled, and its event is still written.
    /// </param>
    /// <param name="cancellationToken">Cancels the write; the records may or may not have been applied.</param>
    /// <exception cref="LedgerUnavailableException">
    /// The ledger or the sink failed: each record may or may not have been applied, so the caller spools them all.
    /// </exception>
    ValueTask WriteAsync(IReadOnlyList<UsageRecord> records, Action<UsageRecord, LedgerAmountException> refused, CancellationToken cancellationToken);
}

/// <summary>Commits record by record through any ledger and sink: a settle and an append each, issued together.</summary>
public sealed class SeparateUsageWriter(IBudgetLedger ledger, IUsageSink sink) : IUsageWriter
{
    public async ValueTask WriteAsync(IReadOnlyList<UsageRecord> records, Action<UsageRecord, LedgerAmountException> refused, CancellationToken cancellationToken)
    {
        foreach (var record in records)
        {
            try
            {
                await ApplyAsync(record, cancellationToken);
            }
            catch (LedgerAmountException ex)
            {
                refused(record, ex);
            }
        }
    }

    // Async so that a ledger throwing before it returns (the embedded one refuses synchronously) still lets the append run.
    private async Task SettleAsync(UsageRecord record, CancellationToken cancellationToken) =>
        await ledger.SettleAsync(record.RequestId, record.Charges, record.Amounts, cancellationToken);

    private async ValueTask ApplyAsync(UsageRecord record, CancellationToken cancellationToken)
    {
        // Both at once: each side is idempotent by request id, so when one fails the whole record is spooled and
        // replaying the side that succeeded changes nothing.
        var settle = record.Charges.Count > 0 ? SettleAsync(record, cancellationToken) : Task.CompletedTask;
        var append = record.Event is not null ? sink.AppendAsync(record.Event, cancellationToken).AsTask() : Task.CompletedTask;
        try
        {
            await settle;
        }
        finally
        {
            // Observed even when the settle failed, so its exception is never left unobserved.
            await append;
        }
    }
}
