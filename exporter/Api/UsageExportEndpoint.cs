using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Tollgate.Core.Events;

namespace Tollgate.Exporter.Api;

/// <summary>
/// <c>GET /api/v1/usage?from=&amp;to=&amp;groupBy=team,model,metadata.agent_step&amp;format=csv|json</c>: sums of tokens by type,
/// cost and requests per group, read straight from the usage stream (its entry ids are append times, so a range starts
/// with a seek).
/// Requires <c>Authorization: Bearer &lt;token&gt;</c> with the token from <c>--token-file</c>. Rows are written as they are
/// produced, so a large result never sits in memory as text.
/// </summary>
internal sealed class UsageExportEndpoint(RedisUsageStream stream, ExporterOptions options, TimeProvider time)
{
    /// <summary>The response header that counts the invalid stream entries the answer left out.</summary>
    public const string SkippedHeader = "X-Tollgate-Skipped-Entries";

    private static readonly string[] Sums = ["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd"];

    public async Task HandleAsync(HttpContext context)
    {
        if (!Authorized(context.Request))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"tollgate-usage\"";
            await WriteErrorAsync(context, options.TokenFile is null
                ? "The usage export API is disabled: start the exporter with --token-file."
                : "A bearer token is required: send Authorization: Bearer <token> (the token in the exporter's --token-file).");
            return;
        }

        var (query, error) = UsageQuery.Parse(context.Request.Query, time.GetUtcNow());
        if (query is null)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await WriteErrorAsync(context, error!, parameter: error![..error!.IndexOf(':', StringComparison.Ordinal)]);
            return;
        }

        var groups = new Dictionary<string, (string[] Key, decimal[] Sums)>(StringComparer.Ordinal);
        var skipped = 0;
        // An entry is appended after its request began (a spooled one much later), so entries from `from` on hold every
        // event of the range; the event's own time decides. An invalid entry is left out (the exporter's consumer counts
        // and dead-letters it); the answer says how many were.
        await foreach (var e in stream.ReadRangeAsync(query.From, DateTimeOffset.MaxValue, context.RequestAborted, _ => skipped++))
        {
            if (e.Time < query.From || e.Time > query.To)
            {
                continue;
            }

            var key = query.GroupBy.Select(field => Field(e, field)).ToArray();
            var id = JsonSerializer.Serialize(key);
            if (!groups.TryGetValue(id, out var group))
            {
                group = (key, new decimal[Sums.Length]);
                groups[id] = group;
            }

            var sums = group.Sums;
            sums[0]++;
            sums[1] += e.Tokens.Input;
            sums[2] += e.Tokens.Output;
            sums[3] += e.Tokens.CacheRead;
            sums[4] += e.Tokens.CacheWrite;
            sums[5] += e.Tokens.Reasoning;
            sums[6] += e.CostUsd;
        }

        var rows = groups.Values.OrderBy(g => string.Join('\u001f', g.Key), StringComparer.Ordinal);
        context.Response.Headers[SkippedHeader] = skipped.ToString(CultureInfo.InvariantCulture);
        if (query.Format == "csv")
        {
            await WriteCsvAsync(context, query, rows);
        }
        else
        {
            await WriteJsonAsync(context, query, rows);
        }
    }

    private static string Field(UsageEvent e, string field) => field switch
    {
        "namespace" => e.Namespace,
        "provider" => e.Provider,
        "model" => e.Model,
        "outcome" => e.Outcome,
        _ when field.StartsWith("metadata.", StringComparison.Ordinal) => e.Tags.GetValueOrDefault(field["metadata.".Length..]) ?? string.Empty,
        _ => e.Tags.GetValueOrDefault(field) ?? string.Empty,
    };

    private static async Task WriteCsvAsync(HttpContext context, UsageQuery query, IEnumerable<(string[] Key, decimal[] Sums)> rows)
    {
        context.Response.ContentType = "text/csv; charset=utf-8";
        var writer = new StreamWriter(context.Response.Body, new UTF8Encoding(false), 16 * 1024);
        await using (writer)
        {
            await writer.WriteLineAsync(string.Join(',', query.GroupBy.Concat(Sums).Select(Csv)));
            foreach (var (key, sums) in rows)
            {
                await writer.WriteLineAsync(string.Join(',', key.Select(Csv).Concat(sums.Select(s => s.ToString(CultureInfo.InvariantCulture)))));
            }
        }
    }

    private static async Task WriteJsonAsync(HttpContext context, UsageQuery query, IEnumerable<(string[] Key, decimal[] Sums)> rows)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("from", query.From);
        json.WriteString("to", query.To);
        json.WriteStartArray("groupBy");
        foreach (var field in query.GroupBy)
        {
            json.WriteStringValue(field);
        }

        json.WriteEndArray();
        json.WriteStartArray("rows");
        foreach (var (key, sums) in rows)
        {
            json.WriteStartObject();
            for (var i = 0; i < key.Length; i++)
            {
                json.WriteString(query.GroupBy[i], key[i]);
            }

            for (var i = 0; i < Sums.Length; i++)
            {
                json.WriteNumber(Sums[i], sums[i]);
            }

            json.WriteEndObject();
            if (json.BytesPending > 16 * 1024)
            {
                await json.FlushAsync(context.RequestAborted);
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// One CSV cell. A value a spreadsheet would run as a formula (it starts with =, +, -, @, tab or CR) is prefixed with
    /// a single quote and quoted, as OWASP's CSV injection guidance says: a tag is any string a CI job chose.
    /// </summary>
    internal static string Csv(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            return "\"'" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        }

        return value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    private static Task WriteErrorAsync(HttpContext context, string message, string? parameter = null)
    {
        context.Response.ContentType = "application/json";
        var body = parameter is null ? JsonSerializer.Serialize(new { error = message }) : JsonSerializer.Serialize(new { error = message, parameter });
        return context.Response.WriteAsync(body, context.RequestAborted);
    }

    private bool Authorized(HttpRequest request)
    {
        if (options.TokenFile is null)
        {
            return false;
        }

        string expected;
        try
        {
            // Read per request: a rotated Secret takes effect at once, and a Secret mounted later enables the API.
            expected = File.ReadAllText(options.TokenFile).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        var header = request.Headers.Authorization.ToString();
        // RFC 9110 §11.1: the scheme is case-insensitive ("bearer" is as good as "Bearer").
        if (expected.Length == 0 || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Constant time: the comparison must not tell an attacker how much of a guess was right.
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()), Encoding.UTF8.GetBytes(expected));
    }
}
