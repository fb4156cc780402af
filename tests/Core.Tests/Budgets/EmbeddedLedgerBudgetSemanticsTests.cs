using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Budgets;

/// <summary>The shared budget semantics against the embedded ledger, journaling to a real file.</summary>
public sealed class EmbeddedLedgerBudgetSemanticsTests : BudgetSemanticsSuite, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-ledger-").FullName;

    protected override Task<IBudgetLedger> CreateLedgerAsync(TimeProvider time) =>
        Task.FromResult<IBudgetLedger>(EmbeddedLedger.Open(Path.Combine(_directory, $"{Guid.NewGuid():N}.jsonl"), time));

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
