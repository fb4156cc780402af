using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Tollgate.Core.Ledger;

/// <summary>
/// The embedded ledger's append-only journal: one JSON object per line. <c>{"op":"c"}</c> records a counter's spend
/// (written when the journal is compacted), <c>{"op":"r"}</c> a reservation with its charges, <c>{"op":"s"}</c> its
/// settlement, <c>{"op":"d"}</c> a debit of actual amounts with no reservation (usage recorded after the fact, e.g.
/// replayed from a spool) and <c>{"op":"i"}</c> the ids of recently settled requests, carried across compactions so a
/// replayed settlement is recognised after a restart. Replaying counters plus settled amounts rebuilds the ledger; a
/// reservation with no settlement is counted at its estimate, because the request may well have consumed tokens before
/// the process died.
/// </summary>
/// <remarks>
/// NOTE: SQLite would also do, but each request then pays for a transaction; an append of one line that is flushed to
/// the OS costs a single write call and is just as safe against a process crash.
/// </remarks>
public sealed class LedgerJournal : IDisposable
{
    private readonly FileStream _stream;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);

    private LedgerJournal(string path, FileStream stream)
    {
        Path = path;
        _stream = stream;
    }

    public string Path { get; }

    public static ReplayResult Replay(string path)
    {
        var counters = new Dictionary<CounterKey, (PeriodWindow Window, decimal Spent)>();
        var open = new Dictionary<string, List<(CounterKey Key, PeriodWindow Window, decimal Estimate)>>(StringComparer.Ordinal);
        var settled = new List<string>();
        var skipped = 0;
        var skippedAmounts = 0;
        if (File.Exists(path))
        {
            if ((File.GetAttributes(path) & (FileAttributes.Device | FileAttributes.Directory)) != 0)
            {
                throw new IOException($"{path} is not a regular file");
            }

            foreach (var line in File.ReadLines(path, Encoding.UTF8))
            {
                if (line.Length == 0)
                {
                    continue;
                }

                try
                {
                    skippedAmounts += Apply(line, counters, open, settled);
                }
                catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
                {
                    skipped++;
                }
            }
        }

        foreach (var charges in open.Values)
        {
            foreach (var (key, window, estimate) in charges)
            {
                Add(counters, key, window, estimate);
            }
        }

        var result = counters.Select(pair => new CounterSnapshot(pair.Key.Budget, pair.Key.Scope, pair.Value.Window, pair.Value.Spent, 0)).ToList();
        return new ReplayResult(result, open.Count, skipped, settled, skippedAmounts);
    }

    /// <summary>Rewrites the journal as one counter line each (atomically, via a temporary file) and opens it for appending.</summary>
    public static LedgerJournal Compact(string path, IEnumerable<CounterSnapshot> counters, IReadOnlyCollection<string>? settledIds = null)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            var buffer = new ArrayBufferWriter<byte>();
            foreach (var counter in counters)
            {
                using (var json = new Utf8JsonWriter(buffer))
                {
                    json.WriteStartObject();
                    json.WriteString("op", "c");
                    json.WriteString("b", counter.Budget);
                    json.WriteString("s", counter.Scope);
                    json.WriteNumber("ps", counter.Window.Start.ToUnixTimeSeconds());
                    json.WriteNumber("pe", counter.Window.End.ToUnixTimeSeconds());
                    json.WriteNumber("spent", counter.Spent);
                    json.WriteEndObject();
                }

                buffer.Write("\n"u8);
            }

            if (settledIds is { Count: > 0 })
            {
                using (var json = new Utf8JsonWriter(buffer))
                {
                    json.WriteStartObject();
                    json.WriteString("op", "i");
                    json.WriteStartArray("ids");
                    foreach (var id in settledIds)
                    {
                        json.WriteStringValue(id);
                    }

                    json.WriteEndArray();
                    json.WriteEndObject();
                }

                buffer.Write("\n"u8);
            }

            file.Write(buffer.WrittenSpan);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
        return new LedgerJournal(path, stream);
    }

    public void WriteReserve(string requestId, IReadOnlyList<LedgerCharge> charges) => WriteCharges("r", requestId, charges, null);

    /// <summary>Records actual amounts debited with no reservation; <c>e</c> holds the amount.</summary>
    public void WriteDebit(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual) => WriteCharges("d", requestId, charges, actual);

    private void WriteCharges(string op, string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal>? amounts)
    {
        _buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_buffer))
        {
            json.WriteStartObject();
            json.WriteString("op", op);
            json.WriteString("id", requestId);
            json.WriteStartArray("c");
            for (var i = 0; i < charges.Count; i++)
            {
                var charge = charges[i];
                json.WriteStartObject();
                json.WriteString("b", charge.Budget);
                json.WriteString("s", charge.Scope);
                json.WriteNumber("ps", charge.Window.Start.ToUnixTimeSeconds());
                json.WriteNumber("pe", charge.Window.End.ToUnixTimeSeconds());
                json.WriteNumber("e", amounts is null ? charge.Estimate : amounts[i]);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        Commit();
    }

    public void WriteSettle(string requestId, IReadOnlyList<decimal> actual)
    {
        _buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_buffer))
        {
            json.WriteStartObject();
            json.WriteString("op", "s");
            json.WriteString("id", requestId);
            json.WriteStartArray("a");
            foreach (var amount in actual)
            {
                json.WriteNumberValue(amount);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        Commit();
    }

    /// <summary>Forces appended lines to the disk (the OS already has them).</summary>
    public void Sync() => _stream.Flush(flushToDisk: true);

    public void Dispose()
    {
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
    }

    private void Commit()
    {
        _buffer.Write("\n"u8);

        // bufferSize 0: this is one write call straight to the OS, so a crash of this process cannot lose it.
        _stream.Write(_buffer.WrittenSpan);
    }

    /// <returns>How many amounts of the line were skipped as unrecordable.</returns>
    private static int Apply(
        string line,
        Dictionary<CounterKey, (PeriodWindow Window, decimal Spent)> counters,
        Dictionary<string, List<(CounterKey Key, PeriodWindow Window, decimal Estimate)>> open,
        List<string> settled)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        var skipped = 0;
        switch (root.GetProperty("op").GetString())
        {
            case "c":
            {
                // A counter sums many requests, so it is bounded by the counter ceiling, not by one request's maximum.
                var (key, window) = KeyOf(root);
                if (ReadAmount(root.GetProperty("spent"), LedgerAmounts.CounterCeiling, ref skipped) is { } spent)
                {
                    Add(counters, key, window, spent);
                }

                break;
            }

            case "r":
            {
                var charges = new List<(CounterKey, PeriodWindow, decimal)>();
                foreach (var charge in root.GetProperty("c").EnumerateArray())
                {
                    var (key, window) = KeyOf(charge);

                    // The slot stays (a settlement pairs its amounts with the charges by position); a crash recovers it at nothing.
                    charges.Add((key, window, ReadAmount(charge.GetProperty("e"), LedgerAmounts.Maximum, ref skipped) ?? 0m));
                }

                open[root.GetProperty("id").GetString()!] = charges;
                break;
            }

            case "s":
            {
                var id = root.GetProperty("id").GetString()!;
                if (!open.Remove(id, out var charges))
                {
                    break;
                }

                settled.Add(id);

                var index = 0;
                foreach (var amount in root.GetProperty("a").EnumerateArray())
                {
                    // An actual amount that cannot be recorded falls back to the reservation's estimate, as a crash would.
                    var (key, window, estimate) = charges[index++];
                    Add(counters, key, window, ReadAmount(amount, LedgerAmounts.Maximum, ref skipped) ?? estimate);
                }

                break;
            }

            case "d":
            {
                foreach (var charge in root.GetProperty("c").EnumerateArray())
                {
                    var (key, window) = KeyOf(charge);
                    if (ReadAmount(charge.GetProperty("e"), LedgerAmounts.Maximum, ref skipped) is { } actual)
                    {
                        Add(counters, key, window, actual);
                    }
                }

                settled.Add(root.GetProperty("id").GetString()!);
                break;
            }

            case "i":
                foreach (var id in root.GetProperty("ids").EnumerateArray())
                {
                    settled.Add(id.GetString()!);
                }

                break;

            default:
                throw new FormatException("unknown journal operation");
        }

        return skipped;
    }

    /// <summary>
    /// An amount of the journal, or null (counted in <paramref name="skipped"/>) when no ledger records it: negative,
    /// above <paramref name="maximum"/>, or a number no decimal holds (1e30, say). Such a line was written before amounts
    /// were checked (a wrapped reservation estimate); applying it would reopen a spent budget.
    /// </summary>
    /// <exception cref="InvalidOperationException">The value is not a number (the line is unreadable as a whole).</exception>
    private static decimal? ReadAmount(JsonElement element, decimal maximum, ref int skipped)
    {
        if (element.TryGetDecimal(out var amount) && amount >= 0 && amount <= maximum)
        {
            return amount;
        }

        skipped++;
        return null;
    }

    private static (CounterKey Key, PeriodWindow Window) KeyOf(JsonElement element)
    {
        var window = new PeriodWindow(
            DateTimeOffset.FromUnixTimeSeconds(element.GetProperty("ps").GetInt64()),
            DateTimeOffset.FromUnixTimeSeconds(element.GetProperty("pe").GetInt64()));
        return (new CounterKey(element.GetProperty("b").GetString()!, element.GetProperty("s").GetString()!, window.Start), window);
    }

    private static void Add(Dictionary<CounterKey, (PeriodWindow Window, decimal Spent)> counters, CounterKey key, PeriodWindow window, decimal amount)
    {
        counters[key] = counters.TryGetValue(key, out var existing)
            ? (existing.Window, LedgerAmounts.AddSpend(existing.Spent, amount))
            : (window, Math.Min(amount, LedgerAmounts.CounterCeiling));
    }
}

/// <summary>What a journal replay rebuilt.</summary>
/// <param name="SettledIds">Request ids settled or debited, oldest first.</param>
/// <param name="SkippedAmounts">Amounts skipped because no ledger records them (negative, too large, or beyond a decimal).</param>
public sealed record ReplayResult(
    IReadOnlyList<CounterSnapshot> Counters, int RecoveredReservations, int SkippedLines, IReadOnlyList<string> SettledIds, int SkippedAmounts = 0);
