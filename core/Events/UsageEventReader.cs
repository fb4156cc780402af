using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Events;

/// <summary>
/// The one reader of usage events (<see cref="UsageEventJson"/> version 1): the exporter's consumer, the usage API, the
/// OpenCost plugin and the backtest all take events through it. It enforces the schema and the meter's own rules, so
/// an entry any writer to Redis can append (a CI job, until the ledger is locked down) is either an event the meter
/// could have written or a <see cref="UsageEventRejection"/> with a bounded reason. It never throws for bad input.
/// </summary>
public static class UsageEventReader
{
    private const int MaxDetailLength = 300;

    /// <summary>The longest budget or routing rule name: a Kubernetes namespace (63) and object name (253) with a slash.</summary>
    private const int MaxNameLength = 320;

    /// <summary>Parses and checks one event; <paramref name="now"/> places the time window of <paramref name="limits"/>.</summary>
    public static bool TryRead(
        ReadOnlySpan<byte> utf8, UsageEventLimits limits, DateTimeOffset now,
        [NotNullWhen(true)] out UsageEvent? usageEvent, [NotNullWhen(false)] out UsageEventRejection? rejection)
    {
        if (!TryParse(utf8, limits.MaxBytes, out usageEvent, out rejection))
        {
            return false;
        }

        rejection = Check(usageEvent, limits, now);
        if (rejection is not null)
        {
            usageEvent = null;
            return false;
        }

        return true;
    }

    /// <summary>
    /// Parses one event's structure (fields, JSON types, numbers that fit their type) without judging its values: for the
    /// meter's own spool, whose records go back to the stream, where every reader applies <see cref="Check"/>.
    /// </summary>
    public static bool TryParse(
        ReadOnlySpan<byte> utf8, int maxBytes,
        [NotNullWhen(true)] out UsageEvent? usageEvent, [NotNullWhen(false)] out UsageEventRejection? rejection)
    {
        usageEvent = null;
        if (utf8.Length > maxBytes)
        {
            rejection = Reject(UsageEventRejections.TooLarge, $"the event is {utf8.Length} bytes, over the limit of {maxBytes}");
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
            usageEvent = Read(document.RootElement);
            rejection = null;
            return true;
        }
        catch (JsonException ex)
        {
            // The parser's message may quote the offending character raw; it is escaped like any quoted input.
            var what = ModelName.Preview(ex.Message.Split(" LineNumber:", 2)[0].TrimEnd('.'));
            rejection = Reject(UsageEventRejections.Malformed, $"not JSON at byte {(ex.BytePositionInLine ?? 0) + 1} of line {(ex.LineNumber ?? 0) + 1}: {what}");
            return false;
        }
        catch (Refusal refusal)
        {
            rejection = refusal.Rejection;
            return false;
        }
    }

    /// <summary>
    /// The meter's rules for an event built in memory (the backtest's CSV rows): null when it may be counted, otherwise why not.
    /// </summary>
    public static UsageEventRejection? Check(UsageEvent e, UsageEventLimits limits, DateTimeOffset now)
    {
        if (limits.MaxAge is { } maxAge && e.Time < now - maxAge)
        {
            return Reject(UsageEventRejections.TimeOutOfWindow, $"time {Time(e.Time)} is older than {maxAge.TotalDays:0.##} days");
        }

        if (e.Time > now + limits.MaxAhead)
        {
            return Reject(UsageEventRejections.TimeOutOfWindow, $"time {Time(e.Time)} is more than {limits.MaxAhead.TotalHours:0.##} hours ahead");
        }

        return Name("id", e.RequestId, RequestTags.MaxValueLength)
            ?? (e.Namespace.Length == 0 ? null : Name("namespace", e.Namespace, RequestTags.MaxValueLength))
            ?? Tags(e.Tags)
            ?? Identifier("provider", e.Provider)
            ?? Identifier("outcome", e.Outcome)
            ?? (e.Cache is null ? null : Identifier("cache", e.Cache))
            ?? Count("tokens.input", e.Tokens.Input, limits)
            ?? Count("tokens.output", e.Tokens.Output, limits)
            ?? Count("tokens.cache_read", e.Tokens.CacheRead, limits)
            ?? Count("tokens.cache_write", e.Tokens.CacheWrite, limits)
            ?? Count("tokens.reasoning", e.Tokens.Reasoning, limits)
            ?? Usd("cost_usd", e.CostUsd, limits)
            ?? Usd("saved_usd", e.SavedUsd, limits)
            ?? Seconds("latency_seconds", e.LatencySeconds, limits)
            ?? (e.TimeToFirstTokenSeconds is { } ttft ? Seconds("ttft_seconds", ttft, limits) : null)
            ?? (e.Status is < 0 or > 999 ? Reject(UsageEventRejections.OutOfRange, $"status {e.Status} is not an HTTP status") : null)
            ?? Budgets(e.Budgets, limits)
            ?? (e.Route is { } route ? Route(route) : null);
    }

    private static UsageEvent Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Refuse(UsageEventRejections.Malformed, $"the event is a JSON {Kind(root)}, not an object");
        }

        var version = Required(root, "v");
        if (version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var v) || v != UsageEventJson.Version)
        {
            throw Refuse(UsageEventRejections.UnsupportedVersion, $"version {Preview(version.GetRawText())} is not supported (expected {UsageEventJson.Version})");
        }

        var tagsElement = Object(root, "tags");
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in tagsElement.EnumerateObject())
        {
            if (tags.Count == RequestTags.MaxKeys)
            {
                throw Refuse(UsageEventRejections.TooLarge, $"tags: more than {RequestTags.MaxKeys} keys");
            }

            var value = String(tag.Value, "tags." + tag.Name);
            if (!tags.TryAdd(tag.Name, value))
            {
                throw Refuse(UsageEventRejections.InvalidText, $"tags: the key \"{ModelName.Preview(tag.Name)}\" appears twice");
            }
        }

        var tokens = Object(root, "tokens");
        var budgetsElement = Required(root, "budgets");
        if (budgetsElement.ValueKind != JsonValueKind.Array)
        {
            throw WrongType("budgets", "an array", budgetsElement);
        }

        var budgets = new List<BudgetCharge>();
        foreach (var b in budgetsElement.EnumerateArray())
        {
            if (budgets.Count == 256)
            {
                throw Refuse(UsageEventRejections.TooLarge, "budgets: more than 256 charges");
            }

            if (b.ValueKind != JsonValueKind.Object)
            {
                throw WrongType("budgets[]", "an object", b);
            }

            budgets.Add(new BudgetCharge(Text(b, "budget"), Text(b, "scope"), Text(b, "unit"), Text(b, "decision"), Decimal(b, "amount")));
        }

        RouteDecision? route = null;
        if (root.TryGetProperty("route", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            if (r.ValueKind != JsonValueKind.Object)
            {
                throw WrongType("route", "an object", r);
            }

            route = new RouteDecision(Text(r, "rule"), Int32(r, "target"), Text(r, "provider"), Text(r, "model"), Int32(r, "attempts"), OptionalText(r, "fallback"));
        }

        return new UsageEvent(
            Text(root, "id"),
            Timestamp(root, "time"),
            Text(root, "namespace"),
            tags,
            Text(root, "provider"),
            Text(root, "model"),
            Boolean(root, "streaming"),
            new TokenUsage(Int64(tokens, "input"), Int64(tokens, "output"), Int64(tokens, "cache_read"), Int64(tokens, "cache_write"), Int64(tokens, "reasoning")),
            Boolean(root, "estimated"),
            Decimal(root, "cost_usd"),
            Double(root, "latency_seconds"),
            Required(root, "ttft_seconds").ValueKind == JsonValueKind.Null ? null : Double(root, "ttft_seconds"),
            Text(root, "outcome"),
            Int32(root, "status"),
            budgets,
            route,
            OptionalText(root, "cache"),
            root.TryGetProperty("saved_usd", out _) ? Decimal(root, "saved_usd") : 0m);
    }

    private static UsageEventRejection? Tags(IReadOnlyDictionary<string, string> tags)
    {
        if (tags.Count > RequestTags.MaxKeys)
        {
            return Reject(UsageEventRejections.TooLarge, $"tags: more than {RequestTags.MaxKeys} keys");
        }

        foreach (var (key, value) in tags)
        {
            if (RequestTags.KeyProblem(key) is { } keyProblem)
            {
                return Reject(UsageEventRejections.InvalidText, $"tags: the key \"{ModelName.Preview(key)}\" {keyProblem}");
            }

            if (RequestTags.ValueProblem(value) is { } problem)
            {
                return Reject(UsageEventRejections.InvalidText, $"tags.{ModelName.Preview(key)} {problem} (starts \"{ModelName.Preview(value)}\")");
            }
        }

        return null;
    }

    private static UsageEventRejection? Budgets(IReadOnlyList<BudgetCharge> budgets, UsageEventLimits limits)
    {
        if (budgets.Count > limits.MaxBudgets)
        {
            return Reject(UsageEventRejections.TooLarge, $"budgets: {budgets.Count} charges, over the limit of {limits.MaxBudgets}");
        }

        foreach (var charge in budgets)
        {
            // A scope joins every appliesPer key's tag value ("repo=checkout,pipeline=pr"), so it may be several tags long.
            var problem = Name("budgets[].budget", charge.Budget, MaxNameLength)
                ?? (charge.Scope.Length == 0 ? null : Name("budgets[].scope", charge.Scope, RequestTags.MaxKeys * (2 * (RequestTags.MaxValueLength + 1))))
                ?? Identifier("budgets[].unit", charge.Unit)
                ?? Identifier("budgets[].decision", charge.Decision)
                ?? (charge.Unit == "usd" ? Usd("budgets[].amount", charge.Amount, limits) : Count("budgets[].amount", charge.Amount, limits));
            if (problem is not null)
            {
                return problem;
            }
        }

        return null;
    }

    private static UsageEventRejection? Route(RouteDecision route) =>
        Name("route.rule", route.Rule, MaxNameLength)
        ?? Identifier("route.provider", route.Provider)
        ?? (route.Fallback is null ? null : Identifier("route.fallback", route.Fallback))
        ?? (route.Target is < -1 or > 1000 ? Reject(UsageEventRejections.OutOfRange, $"route.target {route.Target} is out of range") : null)
        ?? (route.Attempts is < 0 or > 1000 ? Reject(UsageEventRejections.OutOfRange, $"route.attempts {route.Attempts} is out of range") : null);

    // Request ids, namespaces, budget and rule names and scopes are labels or log fields: visible text of a bounded length.
    // The model is not judged here: the meter publishes the provider's own answer, and the label cap folds a bad one
    // into __overflow__ (ModelName) as the meter's own series do.
    private static UsageEventRejection? Name(string field, string value, int maxLength)
    {
        if (value.Length > maxLength)
        {
            return Reject(UsageEventRejections.InvalidText, $"{field} is {value.Length} characters long, over the limit of {maxLength} (starts \"{ModelName.Preview(value)}\")");
        }

        return string.IsNullOrWhiteSpace(value) || RequestTags.HasControl(value)
            ? Reject(UsageEventRejections.InvalidText, $"{field} is blank or holds control characters (starts \"{ModelName.Preview(value)}\")")
            : null;
    }

    // Provider, outcome, cache, unit and decision are short words the meter writes from its own constants.
    private static UsageEventRejection? Identifier(string field, string value)
    {
        if (value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            return null;
        }

        return Reject(UsageEventRejections.InvalidText, $"{field} \"{ModelName.Preview(value)}\" is not a word of at most 64 letters, digits, '_', '-' or '.'");
    }

    private static UsageEventRejection? Count(string field, decimal value, UsageEventLimits limits) =>
        value < 0 || value > limits.MaxTokens
            ? Reject(UsageEventRejections.OutOfRange, $"{field} {value.ToString(CultureInfo.InvariantCulture)} is outside 0..{limits.MaxTokens.ToString(CultureInfo.InvariantCulture)}")
            : null;

    private static UsageEventRejection? Usd(string field, decimal value, UsageEventLimits limits) =>
        value < 0 || value > limits.MaxUsd
            ? Reject(UsageEventRejections.OutOfRange, $"{field} {value.ToString(CultureInfo.InvariantCulture)} is outside 0..{limits.MaxUsd.ToString(CultureInfo.InvariantCulture)}")
            : null;

    private static UsageEventRejection? Seconds(string field, double value, UsageEventLimits limits) =>
        !double.IsFinite(value) || value < 0 || value > limits.MaxSeconds
            ? Reject(UsageEventRejections.OutOfRange, $"{field} {value.ToString(CultureInfo.InvariantCulture)} is outside 0..{limits.MaxSeconds.ToString(CultureInfo.InvariantCulture)}")
            : null;

    private static JsonElement Required(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value : throw Refuse(UsageEventRejections.MissingField, $"missing field \"{name}\"");

    private static JsonElement Object(JsonElement element, string name)
    {
        var value = Required(element, name);
        return value.ValueKind == JsonValueKind.Object ? value : throw WrongType(name, "an object", value);
    }

    private static string Text(JsonElement element, string name) => String(Required(element, name), name);

    private static string? OptionalText(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? String(value, name) : null;

    private static string String(JsonElement value, string name)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw WrongType(name, "a string", value);
        }

        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate (\ud800) has no UTF-16 string to become.
            throw Refuse(UsageEventRejections.InvalidText, $"{ModelName.Preview(name)} holds an unpaired surrogate");
        }
    }

    private static DateTimeOffset Timestamp(JsonElement element, string name)
    {
        var value = Required(element, name);
        return value.ValueKind == JsonValueKind.String && value.TryGetDateTimeOffset(out var time)
            ? time
            : throw Refuse(UsageEventRejections.Malformed, $"{name} {Preview(value.GetRawText())} is not an ISO 8601 time");
    }

    private static bool Boolean(JsonElement element, string name)
    {
        var value = Required(element, name);
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "true or false", value),
        };
    }

    private static long Int64(JsonElement element, string name) =>
        Number(element, name).TryGetInt64(out var value) ? value : throw OutOfRange(element, name);

    private static int Int32(JsonElement element, string name) =>
        Number(element, name).TryGetInt32(out var value) ? value : throw OutOfRange(element, name);

    private static decimal Decimal(JsonElement element, string name) =>
        Number(element, name).TryGetDecimal(out var value) ? value : throw OutOfRange(element, name);

    private static double Double(JsonElement element, string name) =>
        Number(element, name).TryGetDouble(out var value) && double.IsFinite(value) ? value : throw OutOfRange(element, name);

    private static JsonElement Number(JsonElement element, string name)
    {
        var value = Required(element, name);
        return value.ValueKind == JsonValueKind.Number ? value : throw WrongType(name, "a number", value);
    }

    private static Refusal OutOfRange(JsonElement element, string name) =>
        Refuse(UsageEventRejections.OutOfRange, $"{name} {Preview(element.GetProperty(name).GetRawText())} is out of range");

    private static Refusal WrongType(string name, string expected, JsonElement value) =>
        Refuse(UsageEventRejections.Malformed, $"{ModelName.Preview(name)} must be {expected}, not a JSON {Kind(value)}");

    private static string Kind(JsonElement value) => value.ValueKind.ToString().ToLowerInvariant();

    private static string Preview(string raw) => ModelName.Preview(raw);

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static Refusal Refuse(string reason, string detail) => new(Reject(reason, detail));

    private static UsageEventRejection Reject(string reason, string detail)
    {
        if (detail.Length <= MaxDetailLength)
        {
            return new(reason, detail);
        }

        // Never cut a surrogate pair in half: the detail goes into log lines.
        var cut = char.IsHighSurrogate(detail[MaxDetailLength - 1]) ? MaxDetailLength - 1 : MaxDetailLength;
        return new(reason, detail[..cut] + "…");
    }

    // Unwinds the recursive read to TryRead; never escapes this class.
    private sealed class Refusal(UsageEventRejection rejection) : Exception(rejection.Detail)
    {
        public UsageEventRejection Rejection { get; } = rejection;
    }
}
