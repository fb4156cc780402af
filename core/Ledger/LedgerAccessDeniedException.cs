namespace Tollgate.Core.Ledger;

/// <summary>
/// The ledger is up but refused this component's credentials or a command its user may not run (Redis <c>NOPERM</c>,
/// <c>WRONGPASS</c>, <c>NOAUTH</c>): a deployment error, which each budget's failure policy meets like any outage.
/// </summary>
public sealed class LedgerAccessDeniedException : LedgerUnavailableException
{
    public LedgerAccessDeniedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
