using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Budgets;

/// <summary>The overflow suite against the embedded ledger, journaling to a real file; a crash is a dispose without settling and a reopen.</summary>
public sealed class EmbeddedLedgerReservationOverflowTests : ReservationOverflowSuite, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-overflow-").FullName;
    private readonly Dictionary<IBudgetLedger, string> _paths = [];

    protected override Task<IBudgetLedger> CreateLedgerAsync(FakeTimeProvider time)
    {
        var path = Path.Combine(_directory, $"{Guid.NewGuid():N}.jsonl");
        var ledger = EmbeddedLedger.Open(path, time);
        _paths[ledger] = path;
        return Task.FromResult<IBudgetLedger>(ledger);
    }

    protected override async Task<IBudgetLedger> AfterCrashAsync(IBudgetLedger crashed, FakeTimeProvider time)
    {
        // Every append reached the OS before the call returned; disposing only closes the file, as the kernel would.
        await crashed.DisposeAsync();
        var reopened = EmbeddedLedger.Open(_paths[crashed], time);
        Assert.Equal(1, reopened.RecoveredReservations);
        Assert.Equal(0, reopened.SkippedJournalAmounts);
        return reopened;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
