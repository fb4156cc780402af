using System.Globalization;
using Tollgate.Core.Tagging;

namespace Tollgate.Exporter.Api;

/// <summary>A parsed <c>/api/v1/usage</c> request: a time range, the fields to group by and the output format.</summary>
internal sealed record UsageQuery(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<string> GroupBy, string Format)
{
    /// <summary>Fields of the event every group may use besides <c>metadata.&lt;key&gt;</c> (any request tag).</summary>
    public static readonly string[] Fields = ["namespace", TagKeys.Team, TagKeys.Repo, TagKeys.Pipeline, TagKeys.AgentStep, "provider", "model", "outcome"];

    /// <summary>Parses the query string; the error names the parameter at fault.</summary>
    public static (UsageQuery? Query, string? Error) Parse(IQueryCollection query, DateTimeOffset now)
    {
        var from = now.AddDays(-1);
        var to = now;
        if (query.TryGetValue("from", out var fromText) && !TryTime(fromText.ToString(), out from))
        {
            return (null, $"from: \"{Tollgate.Core.Tagging.ModelName.Preview(fromText.ToString())}\" is not an ISO 8601 time such as 2026-11-01T00:00:00Z");
        }

        if (query.TryGetValue("to", out var toText) && !TryTime(toText.ToString(), out to))
        {
            return (null, $"to: \"{Tollgate.Core.Tagging.ModelName.Preview(toText.ToString())}\" is not an ISO 8601 time such as 2026-11-30T23:59:59Z");
        }

        // Stream entry ids count milliseconds from 1970: nothing was metered before, and Redis refuses a negative id.
        if (from < DateTimeOffset.UnixEpoch)
        {
            return (null, "from: must not be before 1970-01-01T00:00:00Z");
        }

        if (to < DateTimeOffset.UnixEpoch)
        {
            return (null, "to: must not be before 1970-01-01T00:00:00Z");
        }

        if (to < from)
        {
            return (null, "to: must not be before from");
        }

        var groupBy = query.TryGetValue("groupBy", out var groups)
            ? groups.ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];
        foreach (var field in groupBy)
        {
            if (Array.IndexOf(Fields, field) < 0 && !(field.StartsWith(TagKeys.MetadataPrefix, StringComparison.Ordinal) && field.Length > TagKeys.MetadataPrefix.Length))
            {
                return (null, $"groupBy: unknown field \"{Tollgate.Core.Tagging.ModelName.Preview(field)}\" (use {string.Join(", ", Fields)} or metadata.<key>)");
            }
        }

        var format = query.TryGetValue("format", out var formatText) ? formatText.ToString() : "json";
        if (format is not ("json" or "csv"))
        {
            return (null, $"format: must be json or csv (got \"{Tollgate.Core.Tagging.ModelName.Preview(format)}\")");
        }

        return (new UsageQuery(from, to, groupBy, format), null);
    }

    private static bool TryTime(string text, out DateTimeOffset value) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
}
