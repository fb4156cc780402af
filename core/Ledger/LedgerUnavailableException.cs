namespace Tollgate.Core.Ledger;

/// <summary>The ledger could not record or read spend.</summary>
public class LedgerUnavailableException : Exception
{
    public LedgerUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
