using System.Text;
using StackExchange.Redis;
using Tollgate.Core.Events;

namespace Tollgate.Exporter.Tests;

/// <summary>
/// Usage stream entries any writer to Redis can append (a CI job, until the ledger is locked down), each with the reason
/// the reader must give: the catalogue of issue 15, appended raw with <c>XADD</c> so no meter-side check stands in the way.
/// </summary>
internal static class HostileEntries
{
    /// <summary>One hostile entry: a name for messages, its raw fields, and the rejection reason expected.</summary>
    public sealed record Entry(string Name, NameValueEntry[] Fields, string Reason);

    /// <summary>The catalogue, every event dated <paramref name="time"/> unless its point is the date.</summary>
    public static IReadOnlyList<Entry> All(DateTimeOffset time)
    {
        var good = Json(ExporterHarness.Event("hostile-base", time));
        return
        [
            Raw("an unterminated object", "{", UsageEventRejections.Malformed),
            Raw("bytes that are not UTF-8", new byte[] { 0x7b, 0xff, 0xfe, 0x7d }, UsageEventRejections.Malformed),
            Raw("a cost of 1e30", good.Replace("\"cost_usd\":0.006", "\"cost_usd\":1e30", StringComparison.Ordinal), UsageEventRejections.OutOfRange),
            Raw("tokens of 1e19", good.Replace("\"input\":1000", "\"input\":10000000000000000000", StringComparison.Ordinal), UsageEventRejections.OutOfRange),
            Raw("negative tokens", good.Replace("\"input\":1000", "\"input\":-1000000", StringComparison.Ordinal), UsageEventRejections.OutOfRange),
            Raw("a negative cost", good.Replace("\"cost_usd\":0.006", "\"cost_usd\":-99.96", StringComparison.Ordinal), UsageEventRejections.OutOfRange),
            Raw("an unpaired surrogate in a tag", good.Replace("\"team\":\"payments\"", "\"team\":\"\\ud800\"", StringComparison.Ordinal), UsageEventRejections.InvalidText),
            Raw("an escape sequence in the namespace", good.Replace("\"namespace\":\"ci-payments\"", "\"namespace\":\"x\\u001b[2J\"", StringComparison.Ordinal), UsageEventRejections.InvalidText),
            Raw("$500k dated 2099",
                Json(ExporterHarness.Event("hostile-2099", new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero), cost: 500_000m)), UsageEventRejections.TimeOutOfWindow),
            Raw("a 5 MB tag", Json(ExporterHarness.Event("hostile-big", time, team: new string('t', 5_000_000))), UsageEventRejections.TooLarge),
            Raw("version 2", good.Replace("\"v\":1", "\"v\":2", StringComparison.Ordinal), UsageEventRejections.UnsupportedVersion),
            Raw("no tokens field", good.Replace("\"tokens\":", "\"tokenz\":", StringComparison.Ordinal), UsageEventRejections.MissingField),
            new("no event field", [new NameValueEntry("id", "x")], UsageEventRejections.MissingEvent),
        ];
    }

    /// <summary>Appends entries as they are, the way <c>redis-cli XADD tollgate:{default}:usage * id x event …</c> would.</summary>
    public static async Task AppendAsync(IDatabase db, string streamKey, IEnumerable<NameValueEntry[]> entries)
    {
        foreach (var fields in entries)
        {
            await db.StreamAddAsync(streamKey, fields);
        }
    }

    public static string Json(UsageEvent e) => Encoding.UTF8.GetString(UsageEventJson.Serialize(e));

    private static Entry Raw(string name, RedisValue json, string reason) => new(name, [new NameValueEntry("id", "x"), new NameValueEntry("event", json)], reason);
}
