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

    /// <exception cref="JsonException">Not a version-1 usage event; the message names the field.</exception>
    public static UsageEvent Parse(ReadOnlySpan<byte> utf8)
    {
        using var document = JsonDocument.Parse(utf8.ToArray());
        return Read(document.RootElement);
    }

    public static UsageEvent Read(JsonElement root)
    {
        var version = Required(root, "v").GetInt32();
        if (version != Version)
        {
            throw new JsonException($"usage event version {version} is not supported (expected {Version})");
        }

        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in Required(root, "tags").EnumerateObject())
        {
            tags[tag.Name] = tag.Value.GetString() ?? string.Empty;
        }

        var tokens = Required(root, "tokens");
        var budgets = new List<BudgetCharge>();
        foreach (var b in Required(root, "budgets").EnumerateArray())
        {
            budgets.Add(new BudgetCharge(Text(b, "budget"), Text(b, "scope"), Text(b, "unit"), Text(b, "decision"), Required(b, "amount").GetDecimal()));
        }

        var ttft = Required(root, "ttft_seconds");
        RouteDecision? route = null;
        if (root.TryGetProperty("route", out var r) && r.ValueKind == JsonValueKind.Object)
        {
            var fallback = Required(r, "fallback");
            route = new RouteDecision(Text(r, "rule"), Required(r, "target").GetInt32(), Text(r, "provider"), Text(r, "model"),
                Required(r, "attempts").GetInt32(), fallback.ValueKind == JsonValueKind.Null ? null : fallback.GetString());
        }

        return new UsageEvent(
            Text(root, "id"),
            Required(root, "time").GetDateTimeOffset(),
            Text(root, "namespace"),
            tags,
            Text(root, "provider"),
            Text(root, "model"),
            Required(root, "streaming").GetBoolean(),
            new TokenUsage(
                Required(tokens, "input").GetInt64(),
                Required(tokens, "output").GetInt64(),
                Required(tokens, "cache_read").GetInt64(),
                Required(tokens, "cache_write").GetInt64(),
                Required(tokens, "reasoning").GetInt64()),
            Required(root, "estimated").GetBoolean(),
            Required(root, "cost_usd").GetDecimal(),
            Required(root, "latency_seconds").GetDouble(),
            ttft.ValueKind == JsonValueKind.Null ? null : ttft.GetDouble(),
            Text(root, "outcome"),
            Required(root, "status").GetInt32(),
            budgets,
            route,
            root.TryGetProperty("cache", out var cache) ? cache.GetString() : null,
            root.TryGetProperty("saved_usd", out var saved) ? saved.GetDecimal() : 0m);
    }

    private static JsonElement Required(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value : throw new JsonException($"usage event: missing field \"{name}\"");

    private static string Text(JsonElement element, string name) => Required(element, name).GetString() ?? string.Empty;
}
