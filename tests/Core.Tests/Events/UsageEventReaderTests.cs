using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Events;
using Tollgate.Core.Tagging;

namespace Tollgate.Core.Tests.Events;

/// <summary>The one reader of usage events: what a meter writes passes unchanged, anything else is refused with a bounded reason.</summary>
public sealed class UsageEventReaderTests
{
    private static readonly UsageEvent Valid = UsageSpoolTests.Record("req-1").Event! with
    {
        Route = new RouteDecision("ci/cheap-first", 0, "anthropic", "claude-haiku-4-5", 1, null),
        Cache = "miss",
    };

    private readonly FakeTimeProvider _time = new(Valid.Time.AddMinutes(5));
    private readonly UsageEventLimits _stream = UsageEventLimits.ForStream(new UsageStreamOptions());

    [Fact]
    public void An_event_the_meter_wrote_reads_back_equal()
    {
        Assert.True(UsageEventReader.TryRead(UsageEventJson.Serialize(Valid), _stream, _time.GetUtcNow(), out var read, out var rejection), rejection?.Detail);

        Assert.Equal(UsageEventJson.Serialize(Valid), UsageEventJson.Serialize(read));
    }

    [Theory]
    [InlineData("{", UsageEventRejections.Malformed)]
    [InlineData("", UsageEventRejections.Malformed)]
    [InlineData("[1,2]", UsageEventRejections.Malformed)]
    [InlineData("\"text\"", UsageEventRejections.Malformed)]
    [InlineData("{\"v\":1,\"id\":\"x\"}", UsageEventRejections.MissingField)]
    [InlineData("{\"v\":2}", UsageEventRejections.UnsupportedVersion)]
    [InlineData("{\"v\":\"1\"}", UsageEventRejections.UnsupportedVersion)]
    [InlineData("{\"id\":\"x\"}", UsageEventRejections.MissingField)]
    public void Text_that_is_no_event_is_refused(string json, string reason) =>
        AssertRefused(Encoding.UTF8.GetBytes(json), reason);

    [Theory]
    [InlineData("cost_usd", "1e30", UsageEventRejections.OutOfRange)]
    [InlineData("cost_usd", "-99.96", UsageEventRejections.OutOfRange)]
    [InlineData("cost_usd", "1000000.01", UsageEventRejections.OutOfRange)]
    [InlineData("cost_usd", "\"0.5\"", UsageEventRejections.Malformed)]
    [InlineData("saved_usd", "-1", UsageEventRejections.OutOfRange)]
    [InlineData("latency_seconds", "1e400", UsageEventRejections.OutOfRange)]
    [InlineData("latency_seconds", "-0.5", UsageEventRejections.OutOfRange)]
    [InlineData("ttft_seconds", "1e9", UsageEventRejections.OutOfRange)]
    [InlineData("status", "2147483648", UsageEventRejections.OutOfRange)]
    [InlineData("status", "-1", UsageEventRejections.OutOfRange)]
    [InlineData("streaming", "1", UsageEventRejections.Malformed)]
    [InlineData("tags", "[]", UsageEventRejections.Malformed)]
    [InlineData("tags", "{\"team\":7}", UsageEventRejections.Malformed)]
    [InlineData("tags", "{\"team\":\"a\\u001b[2J\"}", UsageEventRejections.InvalidText)]
    [InlineData("tags", "{\"team\":\"  \"}", UsageEventRejections.InvalidText)]
    [InlineData("tags", "{\"\":\"a\"}", UsageEventRejections.InvalidText)]
    [InlineData("provider", "\"anthropic\\n\"", UsageEventRejections.InvalidText)]
    [InlineData("outcome", "\"\"", UsageEventRejections.InvalidText)]
    [InlineData("id", "\"\"", UsageEventRejections.InvalidText)]
    [InlineData("id", "null", UsageEventRejections.Malformed)]
    [InlineData("namespace", "\"ns\\r\\nINJECTED\"", UsageEventRejections.InvalidText)]
    [InlineData("time", "\"2099-01-01T00:00:00Z\"", UsageEventRejections.TimeOutOfWindow)]
    [InlineData("time", "\"1970-01-01T00:00:00Z\"", UsageEventRejections.TimeOutOfWindow)]
    [InlineData("time", "\"yesterday\"", UsageEventRejections.Malformed)]
    [InlineData("budgets", "[{\"budget\":\"b\",\"scope\":\"\",\"unit\":\"usd\",\"decision\":\"charged\",\"amount\":-5}]", UsageEventRejections.OutOfRange)]
    [InlineData("budgets", "[{\"budget\":\"b\",\"scope\":\"\",\"unit\":\"usd\",\"decision\":\"charged\",\"amount\":2000000}]", UsageEventRejections.OutOfRange)]
    [InlineData("budgets", "[{\"budget\":\"b\",\"scope\":\"\",\"unit\":\"usd\",\"decision\":\"charged\"}]", UsageEventRejections.MissingField)]
    [InlineData("budgets", "{}", UsageEventRejections.Malformed)]
    [InlineData("route", "{\"rule\":\"r\",\"target\":-7,\"provider\":\"openai\",\"model\":\"gpt-4o\",\"attempts\":1,\"fallback\":null}", UsageEventRejections.OutOfRange)]
    [InlineData("route", "[]", UsageEventRejections.Malformed)]
    public void A_field_out_of_bounds_refuses_the_event(string field, string json, string reason)
    {
        var node = JsonNode.Parse(UsageEventJson.Serialize(Valid))!.AsObject();
        node[field] = JsonNode.Parse(json);

        AssertRefused(Encoding.UTF8.GetBytes(node.ToJsonString()), reason);
    }

    [Theory]
    [InlineData("\\ud800")]
    [InlineData("ok\\udfff")]
    [InlineData("\\ud83d\\ud83d")]
    public void An_unpaired_surrogate_in_a_tag_refuses_the_event(string escaped)
    {
        var text = Encoding.UTF8.GetString(UsageEventJson.Serialize(Valid)).Replace("\"team\":\"payments\"", $"\"team\":\"{escaped}\"", StringComparison.Ordinal);

        AssertRefused(Encoding.UTF8.GetBytes(text), UsageEventRejections.InvalidText);
    }

    [Fact]
    public void A_paired_surrogate_in_a_tag_is_text()
    {
        var text = Encoding.UTF8.GetString(UsageEventJson.Serialize(Valid)).Replace("\"team\":\"payments\"", "\"team\":\"pay\\ud83d\\ude00\"", StringComparison.Ordinal);

        Assert.True(UsageEventReader.TryRead(Encoding.UTF8.GetBytes(text), _stream, _time.GetUtcNow(), out var read, out _));
        Assert.Equal("pay\U0001F600", read.Tags["team"]);
    }

    [Fact]
    public void A_tag_given_twice_refuses_the_event()
    {
        var text = Encoding.UTF8.GetString(UsageEventJson.Serialize(Valid)).Replace("\"tags\":{", "\"tags\":{\"team\":\"other\",", StringComparison.Ordinal);

        AssertRefused(Encoding.UTF8.GetBytes(text), UsageEventRejections.InvalidText);
    }

    [Theory]
    [InlineData("input", "1e19")]
    [InlineData("input", "10000000000000000000")]
    [InlineData("output", "-1")]
    [InlineData("cache_read", "1000000000001")]
    [InlineData("reasoning", "0.5")]
    public void Token_counts_outside_0_to_10_to_the_12_refuse_the_event(string type, string json)
    {
        var node = JsonNode.Parse(UsageEventJson.Serialize(Valid))!.AsObject();
        node["tokens"]![type] = JsonNode.Parse(json);

        AssertRefused(Encoding.UTF8.GetBytes(node.ToJsonString()), UsageEventRejections.OutOfRange);
    }

    [Fact]
    public void Tags_longer_or_more_numerous_than_the_meter_allows_refuse_the_event()
    {
        AssertRefused(UsageEventJson.Serialize(Valid with { Tags = new Dictionary<string, string> { ["team"] = new string('x', RequestTags.MaxValueLength + 1) } }),
            UsageEventRejections.InvalidText);
        AssertRefused(UsageEventJson.Serialize(Valid with { Tags = Enumerable.Range(0, RequestTags.MaxKeys + 1).ToDictionary(i => $"k{i}", i => "v") }),
            UsageEventRejections.TooLarge);
        AssertRefused(UsageEventJson.Serialize(Valid with { Tags = new Dictionary<string, string> { ["team"] = new string('x', 5_000_000) } }),
            UsageEventRejections.TooLarge);
    }

    [Fact]
    public void The_time_window_follows_the_clock_one_day_ahead_and_the_retention_back()
    {
        var now = _time.GetUtcNow();
        Assert.Null(UsageEventReader.Check(Valid with { Time = now.AddHours(23) }, _stream, now));
        Assert.Equal(UsageEventRejections.TimeOutOfWindow, UsageEventReader.Check(Valid with { Time = now.AddHours(25) }, _stream, now)?.Reason);
        Assert.Null(UsageEventReader.Check(Valid with { Time = now.AddDays(-34) }, _stream, now));
        Assert.Equal(UsageEventRejections.TimeOutOfWindow, UsageEventReader.Check(Valid with { Time = now.AddDays(-36) }, _stream, now)?.Reason);

        // Recorded history has no lower bound.
        Assert.Null(UsageEventReader.Check(Valid with { Time = now.AddYears(-3) }, UsageEventLimits.ForHistory, now));

        _time.Advance(TimeSpan.FromDays(40));
        Assert.Equal(UsageEventRejections.TimeOutOfWindow, UsageEventReader.Check(Valid, _stream, _time.GetUtcNow())?.Reason);
    }

    [Fact]
    public void A_model_the_label_rules_refuse_is_read_for_the_label_cap_to_fold()
    {
        var node = JsonNode.Parse(UsageEventJson.Serialize(Valid))!.AsObject();
        node["model"] = "claude sonnet\u202e";

        Assert.True(UsageEventReader.TryRead(Encoding.UTF8.GetBytes(node.ToJsonString()), _stream, _time.GetUtcNow(), out var read, out _));
        Assert.Equal("claude sonnet\u202e", read.Model);
        Assert.False(ModelName.IsValid(read.Model));
    }

    [Fact]
    public void A_scope_of_several_tag_values_is_read_but_not_one_longer_than_all_tags_together()
    {
        var scope = string.Join(',', Enumerable.Range(0, 3).Select(i => $"k{i}=" + new string('v', RequestTags.MaxValueLength)));
        var charge = new BudgetCharge("repo-daily", scope, "usd", BudgetCharges.Charged, 1m);
        var now = _time.GetUtcNow();

        Assert.Null(UsageEventReader.Check(Valid with { Budgets = [charge] }, _stream, now));
        Assert.Equal(UsageEventRejections.InvalidText, UsageEventReader.Check(Valid with { Budgets = [charge with { Scope = new string('s', 20_000) }] }, _stream, now)?.Reason);
        Assert.Equal(UsageEventRejections.InvalidText, UsageEventReader.Check(Valid with { Budgets = [charge with { Scope = "repo=a\nb" }] }, _stream, now)?.Reason);
    }

    [Fact]
    public void The_detail_names_the_field_and_quotes_hostile_text_escaped_and_cut()
    {
        var hostile = "\u001b]0;pwned\u0007" + new string('A', 500);
        var node = JsonNode.Parse(UsageEventJson.Serialize(Valid))!.AsObject();
        node["namespace"] = hostile;

        Assert.False(UsageEventReader.TryRead(Encoding.UTF8.GetBytes(node.ToJsonString()), _stream, _time.GetUtcNow(), out _, out var rejection));

        Assert.StartsWith("namespace ", rejection.Detail, StringComparison.Ordinal);
        Assert.Contains("\\u001B", rejection.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', rejection.Detail);
        Assert.DoesNotContain(new string('A', ModelName.PreviewLength + 1), rejection.Detail, StringComparison.Ordinal);
        Assert.True(rejection.Detail.Length <= 301);
    }

    [Fact]
    public void The_parsers_own_message_is_escaped_too()
    {
        Assert.False(UsageEventReader.TryRead("\u001b]0;pwned\u0007"u8, _stream, _time.GetUtcNow(), out _, out var rejection));

        Assert.Equal(UsageEventRejections.Malformed, rejection.Reason);
        Assert.StartsWith("not JSON at byte 1 of line 1: ", rejection.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(rejection.Detail, char.IsControl);
    }

    [Fact]
    public void Every_reason_is_in_the_closed_set() =>
        Assert.Equal(8, UsageEventRejections.All.Distinct(StringComparer.Ordinal).Count());

    private void AssertRefused(byte[] utf8, string reason)
    {
        Assert.False(UsageEventReader.TryRead(utf8, _stream, _time.GetUtcNow(), out var read, out var rejection));
        Assert.Null(read);
        Assert.Equal(reason, rejection.Reason);
        Assert.False(string.IsNullOrEmpty(rejection.Detail));
    }
}
