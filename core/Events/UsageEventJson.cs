using System.Buffers;
using System.Text.Json;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Events;

/// <summary>
/// The usage event's wire format (version 1), one JSON object with snake_case names. Written by hand: it is on the
/// hot path and its shape is a contract with the exporter, so a rename in C# must not silently change it.
/// </summary>
public static class UsageEventJson
{
    public const int Version = 1;

    public static byte[] Serialize(UsageEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            Write(json, e);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Utf8JsonWriter json, UsageEvent e)
    {
        json.WriteStartObject();
        json.WriteNumber("v", Version);
        json.WriteString("id", e.RequestId);
        json.WriteString("time", e.Time.UtcDateTime);
        json.WriteString("namespace", e.Namespace);
        json.WriteStartObject("tags");
        foreach (var (key, value) in e.Tags)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
        json.WriteString("provider", e.Provider);
        json.WriteString("model", e.Model);
        json.WriteBoolean("streaming", e.Streaming);
        json.WriteStartObject("tokens");
        json.WriteNumber("input", e.Tokens.Input);
        json.WriteNumber("output", e.Tokens.Output);
        json.WriteNumber("cache_read", e.Tokens.CacheRead);
        json.WriteNumber("cache_write", e.Tokens.CacheWrite);
        json.WriteNumber("reasoning", e.Tokens.Reasoning);
        json.WriteEndObject();
        json.WriteBoolean("estimated", e.Estimated);
        json.WriteNumber("cost_usd", e.CostUsd);
        json.WriteNumber("latency_seconds", e.LatencySeconds);
        if (e.TimeToFirstTokenSeconds is { } ttft)
        {
            json.WriteNumber("ttft_seconds", ttft);
        }
        else
        {
            json.WriteNull("ttft_seconds");
        }

        json.WriteString("outcome", e.Outcome);
        json.WriteNumber("status", e.Status);
        json.WriteStartArray("budgets");
        foreach (var charge in e.Budgets)
        {
            json.WriteStartObject();
            json.WriteString("budget", charge.Budget);
            json.WriteString("scope", charge.Scope);
            json.WriteString("unit", charge.Unit);
            json.WriteString("decision", charge.Decision);
            json.WriteNumber("amount", charge.Amount);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (e.Route is { } route)
        {
            json.WriteStartObject("route");
            json.WriteString("rule", route.Rule);
            json.WriteNumber("target", route.Target);
            json.WriteString("provider", route.Provider);
            json.WriteString("model", route.Model);
            json.WriteNumber("attempts", route.Attempts);
            if (route.Fallback is null)
            {
                json.WriteNull("fallback");
            }
            else
            {
                json.WriteString("fallback", route.Fallback);
            }

            json.WriteEndObject();
        }

        if (e.Cache is not null)
        {
            json.WriteString("cache", e.Cache);
        }

        if (e.SavedUsd != 0)
        {
            json.WriteNumber("saved_usd", e.SavedUsd);
        }

        json.WriteEndObject();
    }

    /// <summary>
    /// Parses one event's structure with <see cref="UsageEventReader.TryParse"/>, for the meter's spool and for tests and
    /// tools that hold events they wrote themselves. Readers of the stream use <see cref="UsageEventReader.TryRead"/>.
    /// </summary>
    /// <exception cref="JsonException">Not a version-1 usage event; the message names the field.</exception>
    public static UsageEvent Parse(ReadOnlySpan<byte> utf8) =>
        UsageEventReader.TryParse(utf8, int.MaxValue, out var usageEvent, out var rejection)
            ? usageEvent
            : throw new JsonException($"usage event: {rejection.Detail}");
}
