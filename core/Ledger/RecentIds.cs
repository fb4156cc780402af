namespace Tollgate.Core.Ledger;

/// <summary>A set of the last <c>capacity</c> ids added, oldest forgotten first. Not thread-safe.</summary>
internal sealed class RecentIds(int capacity)
{
    private readonly HashSet<string> _set = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public bool Contains(string id) => _set.Contains(id);

    public void Add(string id)
    {
        if (!_set.Add(id))
        {
            return;
        }

        _order.Enqueue(id);
        if (_order.Count > capacity)
        {
            _set.Remove(_order.Dequeue());
        }
    }
}
