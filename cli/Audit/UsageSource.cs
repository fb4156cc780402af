using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Tollgate.Core.Events;
using Tollgate.Core.Redis;
using Tollgate.Core.Pricing;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Cli.Audit;

/// <summary>A line of input that is not a usage event; the reader skips it (or the command stops, with --strict).</summary>
public sealed record MalformedLine(long Line, string Reason);

/// <summary>
/// Reads recorded usage events one at a time, in file order, so a multi-gigabyte history never sits in memory:
/// JSONL (one <see cref="UsageEventJson"/> per line, as the meter writes them), the per-event CSV below, or a Redis
/// usage stream (<c>redis://host:port[/db]</c>).
/// </summary>
/// <remarks>
/// Per-event CSV header: <c>time,namespace,team,repo,pipeline,agent_step,provider,model,input,output,cache_read,cache_write,reasoning,cost_usd</c>
/// (time in ISO 8601 UTC; an empty cost_usd is priced from the catalog). The
/// exporter's CSV is aggregated per scope and day, so it cannot be replayed request by request.
/// </remarks>
/// <param name="time">The clock history is checked against: an event dated more than a day ahead of it is refused, like the exporter refuses it.</param>
public sealed class UsageSource(string location, PricingCatalog pricing, Action<MalformedLine> onMalformed, TimeProvider time)
{
    private readonly TimeProvider _time = time;

    public const string CsvHeader = "time,namespace,team,repo,pipeline,agent_step,provider,model,input,output,cache_read,cache_write,reasoning,cost_usd";

    public string Location => location;

    /// <summary>Bytes read so far and the file's length, for progress; both 0 for Redis.</summary>
    public long Position { get; private set; }

    public long Length { get; private set; }

    public static bool IsRedis(string location) => location.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);

    public async IAsyncEnumerable<UsageEvent> ReadAsync(DateTimeOffset? from, DateTimeOffset? to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (IsRedis(location))
        {
            await using var redis = await RedisConnection.ConnectAsync(RedisLedgerOptions.FromUrl(location) with { Access = RedisLedgerAccess.Read }, _time, cancellationToken);
            var stream = RedisUsageStream.Reader(redis, _time);
            // Refused entries are reported like malformed lines, with the stream entry id in place of a line number.
            await foreach (var e in stream.ReadRangeAsync(from ?? DateTimeOffset.MinValue, to ?? DateTimeOffset.MaxValue, cancellationToken,
                entry => onMalformed(new MalformedLine(EntryMs(entry.Id), $"stream entry {entry.Id}: {entry.Rejection!.Reason}: {entry.Rejection.Detail}"))))
            {
                yield return e;
            }

            yield break;
        }

        var csv = location.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        await using var file = new FileStream(location, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan);
        Length = file.Length;
        using var reader = new StreamReader(file, Encoding.UTF8, false, 1 << 16);
        long number = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            number++;
            Position = file.Position;
            if (line.Length == 0 || (csv && number == 1 && line.StartsWith("time,", StringComparison.Ordinal)))
            {
                continue;
            }

            UsageEvent? parsed;
            string? error;
            if (csv)
            {
                parsed = TryParseCsv(line, number, out error);
            }
            else
            {
                parsed = TryParseJson(line, out error);
            }

            if (parsed is null)
            {
                onMalformed(new MalformedLine(number, error ?? "unreadable"));
                continue;
            }

            if ((from is { } f && parsed.Time < f) || (to is { } t && parsed.Time >= t))
            {
                continue;
            }

            yield return parsed;
        }
    }

    private static long EntryMs(string entryId) =>
        long.TryParse(entryId.AsSpan(0, entryId.IndexOf('-', StringComparison.Ordinal) is var dash and >= 0 ? dash : entryId.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : 0;

    // The same reader as the exporter's, with any past time: a backtest replays history older than the stream keeps.
    private UsageEvent? TryParseJson(string line, out string? error)
    {
        if (UsageEventReader.TryRead(Encoding.UTF8.GetBytes(line), UsageEventLimits.ForHistory, _time.GetUtcNow(), out var usageEvent, out var rejection))
        {
            error = null;
            return usageEvent;
        }

        error = $"usage event: {rejection.Detail}";
        return null;
    }

    private UsageEvent? TryParseCsv(string line, long number, out string? error)
    {
        var f = line.Split(',');
        if (f.Length != 14)
        {
            error = $"expected 14 comma-separated fields ({CsvHeader}), got {f.Length}";
            return null;
        }

        if (!DateTimeOffset.TryParse(f[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            error = $"time \"{f[0]}\" is not an ISO 8601 timestamp";
            return null;
        }

        var counts = new long[5];
        for (var i = 0; i < 5; i++)
        {
            if (!long.TryParse(f[8 + i], NumberStyles.None, CultureInfo.InvariantCulture, out counts[i]))
            {
                error = $"{CsvHeader.Split(',')[8 + i]} \"{f[8 + i]}\" is not a token count";
                return null;
            }
        }

        var cost = -1m;
        if (f[13].Length > 0 && !decimal.TryParse(f[13], NumberStyles.Number, CultureInfo.InvariantCulture, out cost))
        {
            error = $"cost_usd \"{f[13]}\" is not a number";
            return null;
        }

        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] names = [TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, TagKeys.AgentStep];
        for (var i = 0; i < names.Length; i++)
        {
            if (f[2 + i].Length > 0)
            {
                tags[names[i]] = f[2 + i];
            }
        }

        var tokens = new TokenUsage(counts[0], counts[1], counts[2], counts[3], counts[4]);
        if (cost < 0)
        {
            cost = pricing.Resolve(f[6], f[7]).Price.Cost(tokens);
        }

        var usageEvent = new UsageEvent(
            $"csv-{number.ToString(CultureInfo.InvariantCulture)}", time, f[1], tags, f[6], f[7], false, tokens, false, cost, 0, null, "forwarded", 200, []);
        if (UsageEventReader.Check(usageEvent, UsageEventLimits.ForHistory, _time.GetUtcNow()) is { } rejection)
        {
            error = $"usage event: {rejection.Detail}";
            return null;
        }

        error = null;
        return usageEvent;
    }
}
