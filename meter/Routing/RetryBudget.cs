namespace Tollgate.Meter.Routing;

/// <summary>
/// Caps retries to a share of traffic so that a failing provider does not get a multiple of the load (a retry storm):
/// every request deposits <c>ratio</c> of a retry, every retry withdraws one, and a floor of
/// <c>minimumPerSecond</c> keeps low-traffic meters able to retry at all (the budget Finagle and Linkerd use).
/// </summary>
internal sealed class RetryBudget(TimeProvider time, double ratio = 0.2, double minimumPerSecond = 5)
{
    private readonly Lock _gate = new();
    private readonly double _capacity = Math.Max(10, minimumPerSecond * 10);
    private double _balance = Math.Max(10, minimumPerSecond * 10);
    private long _refilledAt = time.GetTimestamp();

    public void Deposit()
    {
        lock (_gate)
        {
            _balance = Math.Min(_capacity, _balance + ratio);
        }
    }

    /// <summary>True (and one retry spent) when the budget allows another retry.</summary>
    public bool TryWithdraw()
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            _balance = Math.Min(_capacity, _balance + (time.GetElapsedTime(_refilledAt, now).TotalSeconds * minimumPerSecond));
            _refilledAt = now;
            if (_balance < 1)
            {
                return false;
            }

            _balance -= 1;
            return true;
        }
    }
}
