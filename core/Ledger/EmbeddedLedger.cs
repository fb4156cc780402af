
namespace Tollgate.Core.Ledger;

/// <summary>
/// The in-process ledger of standalone mode. Counters live in memory behind one lock (a reservation touches every
/// matching budget at once, and a lock held for microseconds beats anything cleverer at this scale). Every reservation
/// and settlement is appended to a <see cref="LedgerJournal"/> before the call returns, so a restart, or a crash, loses
/// no spend: a reservation that was never settled is recovered as spent at its estimate. Amounts are checked with
/// <see cref="LedgerAmounts"/> before anything is journaled, and counters are decimals, whose arithmetic throws on
/// overflow instead of wrapping, so no amount can turn into a negative counter.
/// </summary>
public sealed class EmbeddedLedger : IBudgetLedger
{
    /// <summary>
    /// How many settled request ids are remembered (and carried across compactions) so a replayed settlement is a
    /// no-op. A spool replays within seconds of the ledger's return, far inside this window.
    /// </summary>
    public const int SettledIdsKept = 16_384;

    private readonly Lock _gate = new();
    private readonly Dictionary<CounterKey, Counter> _counters = [];
    private readonly Dictionary<string, OpenReservation> _open = new(StringComparer.Ordinal);
    private readonly RecentIds _settled = new(SettledIdsKept);
    private readonly LedgerJournal? _journal;
    private readonly TimeProvider _time;
    private readonly ITimer? _syncTimer;
    private bool _journalFailed;

    private EmbeddedLedger(LedgerJournal? journal, TimeProvider time)
    {
        _journal = journal;
        _time = time;
        if (journal is not null)
        {
            // Appends reach the OS at once (surviving a process crash); this bounds what a power loss can take to a second.
            _syncTimer = time.CreateTimer(static state => ((EmbeddedLedger)state!).SyncToDisk(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }
    }

    public string Name => "embedded";

    public bool IsReady => !_journalFailed;

    /// <summary>Reservations recovered as spent at their estimate when the journal was opened.</summary>
    public int RecoveredReservations { get; private set; }

    /// <summary>Journal lines that could not be read (a torn last line after a crash, say) and were skipped.</summary>
    public int SkippedJournalLines { get; private set; }

    /// <summary>
    /// Amounts in the journal that no ledger records (negative, beyond <see cref="LedgerAmounts.Maximum"/>, or beyond a
    /// decimal), skipped on replay instead of applied: a journal written before amounts were checked may hold a wrapped one.
    /// </summary>
    public int SkippedJournalAmounts { get; private set; }

    /// <summary>A ledger that keeps nothing across restarts (tests, or <c>--ledger memory</c>).</summary>
    public static EmbeddedLedger InMemory(TimeProvider time) => new(null, time);

    /// <summary>Opens (or creates) the journal at <paramref name="path"/>, replays it and compacts it.</summary>
    public static EmbeddedLedger Open(string path, TimeProvider time)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
        }

        var replay = LedgerJournal.Replay(path);
        var now = time.GetUtcNow();
        var settled = replay.SettledIds.Skip(Math.Max(0, replay.SettledIds.Count - SettledIdsKept)).ToList();
        var journal = LedgerJournal.Compact(path, replay.Counters.Where(c => c.Window.End > now.AddDays(-1)), settled);
        var ledger = new EmbeddedLedger(journal, time)
        {
            RecoveredReservations = replay.RecoveredReservations,
            SkippedJournalLines = replay.SkippedLines,
            SkippedJournalAmounts = replay.SkippedAmounts,
        };
        settled.ForEach(ledger._settled.Add);
        foreach (var counter in replay.Counters)
        {
            if (counter.Window.End > now.AddDays(-1))
            {
                ledger._counters[new CounterKey(counter.Budget, counter.Scope, counter.Window.Start)] =
                    new Counter(counter.Window) { Spent = counter.Spent };
            }
        }

        return ledger;
    }

    /// <exception cref="LedgerAmountException">An estimate is negative or beyond <see cref="LedgerAmounts.Maximum"/>; nothing is reserved.</exception>
    public ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken)
    {
        // Before the lock and the journal: a wrapped negative estimate would open headroom that was never there.
        LedgerAmounts.CheckEstimates(charges);
        var states = new CounterState[charges.Count];
        lock (_gate)
        {
            var counters = new Counter[charges.Count];
            for (var i = 0; i < charges.Count; i++)
            {
                counters[i] = CounterFor(charges[i]);
                states[i] = new CounterState(counters[i].Spent, counters[i].Reserved);
            }

            var blocking = BudgetDecision.Evaluate(charges, states);
            if (blocking >= 0 || charges.Count == 0)
            {
                return ValueTask.FromResult(new ReserveResult(blocking, states));
            }

            if (_open.ContainsKey(requestId))
            {
                // Already reserved under this id (a retried call): reserving twice would double count.
                return ValueTask.FromResult(new ReserveResult(-1, states));
            }

            for (var i = 0; i < charges.Count; i++)
            {
                if (charges[i].Estimate > LedgerAmounts.CounterCeiling - counters[i].Reserved)
                {
                    throw new LedgerAmountException(charges[i].Budget, charges[i].Estimate, "estimate",
                        $"the counter's reservations would pass {LedgerAmounts.CounterCeiling}");
                }
            }

            Append(static (journal, state) => journal.WriteReserve(state.requestId, state.charges), (requestId, charges));
            for (var i = 0; i < charges.Count; i++)
            {
                counters[i].Reserved += charges[i].Estimate;
            }

            _open[requestId] = new OpenReservation(charges, counters);
        }

        return ValueTask.FromResult(new ReserveResult(-1, states));
    }

    /// <exception cref="LedgerAmountException">An amount is negative or beyond <see cref="LedgerAmounts.Maximum"/>; nothing is recorded.</exception>
    public ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken)
    {
        if (actual.Count != charges.Count)
        {
            throw new ArgumentException($"expected {charges.Count} amounts, got {actual.Count}", nameof(actual));
        }

        LedgerAmounts.CheckActuals(actual, charges);

        lock (_gate)
        {
            if (_open.TryGetValue(requestId, out var reservation))
            {
                SettleReservation(requestId, reservation, actual);
                return ValueTask.CompletedTask;
            }

            if (_settled.Contains(requestId) || charges.Count == 0)
            {
                return ValueTask.CompletedTask;
            }

            Append(static (journal, state) => journal.WriteDebit(state.requestId, state.charges, state.actual), (requestId, charges, actual));
            for (var i = 0; i < charges.Count; i++)
            {
                var counter = CounterFor(charges[i]);
                counter.Spent = LedgerAmounts.AddSpend(counter.Spent, actual[i]);
            }

            _settled.Add(requestId);
        }

        return ValueTask.CompletedTask;
    }

    private void SettleReservation(string requestId, OpenReservation reservation, IReadOnlyList<decimal> actual)
    {
        if (actual.Count != reservation.Charges.Count)
        {
            throw new ArgumentException($"expected {reservation.Charges.Count} amounts, got {actual.Count}", nameof(actual));
        }

        Append(static (journal, state) => journal.WriteSettle(state.requestId, state.actual), (requestId, actual));
        _open.Remove(requestId);
        _settled.Add(requestId);
        for (var i = 0; i < actual.Count; i++)
        {
            var counter = reservation.Counters[i];
            counter.Reserved -= reservation.Charges[i].Estimate;
            counter.Spent = LedgerAmounts.AddSpend(counter.Spent, actual[i]);
        }
    }

    public ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var list = new List<CounterSnapshot>(_counters.Count);
            foreach (var (key, counter) in _counters)
            {
                if (counter.Window.Start <= now && now < counter.Window.End)
                {
                    list.Add(new CounterSnapshot(key.Budget, key.Scope, counter.Window, counter.Spent, counter.Reserved));
                }
            }

            return ValueTask.FromResult<IReadOnlyList<CounterSnapshot>>(list);
        }
    }

    public ValueTask DisposeAsync()
    {
        _syncTimer?.Dispose();
        lock (_gate)
        {
            _journal?.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private Counter CounterFor(LedgerCharge charge)
    {
        var key = charge.Key;
        if (!_counters.TryGetValue(key, out var counter))
        {
            counter = new Counter(charge.Window);
            _counters[key] = counter;
            PruneEndedPeriods();
        }

        return counter;
    }

    private void PruneEndedPeriods()
    {
        // Only when a new counter appears, which is at most once per budget, scope and period.
        var horizon = _time.GetUtcNow().AddDays(-1);
        List<CounterKey>? ended = null;
        foreach (var (key, counter) in _counters)
        {
            if (counter.Window.End < horizon && counter.Reserved == 0)
            {
                (ended ??= []).Add(key);
            }
        }

        ended?.ForEach(key => _counters.Remove(key));
    }

    private void Append<TState>(Action<LedgerJournal, TState> write, TState state)
    {
        if (_journal is null)
        {
            return;
        }

        try
        {
            write(_journal, state);
            _journalFailed = false;
        }
        catch (IOException ex)
        {
            _journalFailed = true;
            throw new LedgerUnavailableException($"the ledger journal {_journal.Path} cannot be written: {ex.Message}", ex);
        }
    }

    private void SyncToDisk()
    {
        lock (_gate)
        {
            try
            {
                _journal?.Sync();
            }
            catch (IOException)
            {
                _journalFailed = true;
            }
            catch (ObjectDisposedException)
            {
                // Raced with shutdown; the final dispose syncs.
            }
        }
    }

    private sealed class Counter(PeriodWindow window)
    {
        public PeriodWindow Window { get; } = window;

        public decimal Spent { get; set; }

        public decimal Reserved { get; set; }
    }

    private sealed record OpenReservation(IReadOnlyList<LedgerCharge> Charges, Counter[] Counters);
}
