using System.Buffers;
using System.Text;
using System.Text.Json;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Events;

/// <summary>
/// A local, ordered file of <see cref="UsageRecord"/>s that could not be written to the ledger or the usage stream,
/// one JSON object per line, replayed in order when they come back. Lines reach the OS before
/// <see cref="Append"/> returns, so a crash of the meter loses none; a torn last line is skipped on reading.
/// </summary>
public sealed class UsageSpool : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<byte[]>? _memory;
    private FileStream? _stream;
    private int _count;

    private UsageSpool(string? path, FileStream? stream, int count)
    {
        Path = path;
        _stream = stream;
        _count = count;
        _memory = path is null ? [] : null;
    }

    /// <summary>The spool file, or null for an in-memory spool (<c>--ledger memory</c>).</summary>
    public string? Path { get; }

    /// <summary>Records waiting to be replayed.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    public static UsageSpool InMemory() => new(null, null, 0);

    /// <summary>Opens (or creates) the spool; records left by an earlier process are kept for replay.</summary>
    public static UsageSpool Open(string path)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var count = File.Exists(path) ? File.ReadLines(path).Count(line => line.Length > 0) : 0;
        return new UsageSpool(path, OpenForAppend(path), count);
    }

    public void Append(UsageRecord record)
    {
        var line = Serialize(record);
        lock (_gate)
        {
            if (_memory is not null)
            {
                _memory.Add(line);
            }
            else
            {
                // One write call (bufferSize 0): the line is with the OS when this returns.
                _stream!.Write(line);
            }

            _count++;
        }
    }

    /// <summary>
    /// The records in the order they were spooled (at most <paramref name="max"/>). A line that cannot be read (torn by
    /// a crash mid-write, so never acknowledged) comes back as a record with an empty id, for the caller to skip.
    /// </summary>
    public IReadOnlyList<UsageRecord> Peek(int max)
    {
        List<byte[]> lines;
        lock (_gate)
        {
            lines = _memory is not null ? [.. _memory.Take(max)] : [.. ReadLines(Path!).Take(max)];
        }

        var records = new List<UsageRecord>(lines.Count);
        foreach (var line in lines)
        {
            try
            {
                records.Add(Deserialize(line));
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
            {
                records.Add(new UsageRecord(string.Empty, [], [], null));
            }
        }

        return records;
    }

    /// <summary>Forgets the first <paramref name="count"/> records once they are applied (records appended meanwhile stay).</summary>
    public void RemoveFirst(int count)
    {
        if (count <= 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_memory is not null)
            {
                _memory.RemoveRange(0, Math.Min(count, _memory.Count));
                _count = _memory.Count;
                return;
            }

            var remaining = ReadLines(Path!).Skip(count).ToList();
            var temporary = Path + ".tmp";
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                foreach (var line in remaining)
                {
                    file.Write(line);
                }

                file.Flush(flushToDisk: true);
            }

            _stream!.Dispose();
            File.Move(temporary, Path!, overwrite: true);
            _stream = OpenForAppend(Path!);
            _count = remaining.Count;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stream?.Flush(flushToDisk: true);
            _stream?.Dispose();
            _stream = null;
        }
    }

    private static FileStream OpenForAppend(string path) => new(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);

    private static IEnumerable<byte[]> ReadLines(string path)
    {
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            if (line.Length > 0)
            {
                yield return Encoding.UTF8.GetBytes(line + "\n");
            }
        }
    }

    private static byte[] Serialize(UsageRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", record.RequestId);
            json.WriteStartArray("c");
            for (var i = 0; i < record.Charges.Count; i++)
            {
                var charge = record.Charges[i];
                json.WriteStartObject();
                json.WriteString("b", charge.Budget);
                json.WriteString("s", charge.Scope);
                json.WriteNumber("ps", charge.Window.Start.ToUnixTimeSeconds());
                json.WriteNumber("pe", charge.Window.End.ToUnixTimeSeconds());
                json.WriteNumber("l", charge.Limit);
                json.WriteNumber("e", charge.Estimate);
                json.WriteBoolean("cb", charge.CanBlock);
                json.WriteNumber("a", record.Amounts[i]);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            if (record.Event is not null)
            {
                json.WritePropertyName("ev");
                UsageEventJson.Write(json, record.Event);
            }

            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    private static UsageRecord Deserialize(byte[] line)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        var charges = new List<LedgerCharge>();
        var amounts = new List<decimal>();
        foreach (var c in root.GetProperty("c").EnumerateArray())
        {
            var window = new PeriodWindow(
                DateTimeOffset.FromUnixTimeSeconds(c.GetProperty("ps").GetInt64()),
                DateTimeOffset.FromUnixTimeSeconds(c.GetProperty("pe").GetInt64()));
            charges.Add(new LedgerCharge(c.GetProperty("b").GetString()!, c.GetProperty("s").GetString()!, window,
                c.GetProperty("l").GetDecimal(), c.GetProperty("e").GetDecimal(), c.GetProperty("cb").GetBoolean()));
            amounts.Add(c.GetProperty("a").GetDecimal());
        }

        var usageEvent = root.TryGetProperty("ev", out var ev) ? UsageEventJson.Parse(Encoding.UTF8.GetBytes(ev.GetRawText())) : null;
        return new UsageRecord(root.GetProperty("id").GetString()!, charges, amounts, usageEvent);
    }
}
