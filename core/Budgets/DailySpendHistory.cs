using System.Collections.Concurrent;

namespace Tollgate.Core.Budgets;

/// <summary>
/// What each budget scope was charged per UTC day, for <see cref="SpendForecast"/>: the standalone meter keeps it from
/// its own settlements (in memory: after a restart the forecast uses the run rate until a day has passed).
/// </summary>
public sealed class DailySpendHistory
{
    private const int KeepDays = SpendForecast.HistoryDays + 1;
    private readonly ConcurrentDictionary<(DateOnly Day, string Budget, string Scope), decimal> _amounts = new();
    private int _prunedDay;

    public void Add(DateTimeOffset at, string budget, string scope, decimal amount)
    {
        if (amount <= 0)
        {
            return;
        }

        var day = DateOnly.FromDateTime(at.UtcDateTime);
        _amounts.AddOrUpdate((day, budget, scope), amount, (_, sum) => sum + amount);

        // Once per new day, not per request: ConcurrentDictionary.Count takes every lock, and days only age daily.
        var last = Volatile.Read(ref _prunedDay);
        if (day.DayNumber > last && Interlocked.CompareExchange(ref _prunedDay, day.DayNumber, last) == last)
        {
            Prune(day);
        }
    }

    /// <summary>The full days before <paramref name="now"/> (at most seven, oldest first) the history covers, 0 for a day without spend for the scope.</summary>
    public IReadOnlyList<decimal> LastDays(string budget, string scope, DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var covered = _amounts.Keys.Select(k => k.Day).Where(d => d < today && d >= today.AddDays(-SpendForecast.HistoryDays)).ToHashSet();
        return [.. covered.Order().Select(day => _amounts.GetValueOrDefault((day, budget, scope)))];
    }

    private void Prune(DateOnly today)
    {
        foreach (var key in _amounts.Keys.Where(k => k.Day < today.AddDays(-KeepDays)))
        {
            _amounts.TryRemove(key, out _);
        }
    }
}
