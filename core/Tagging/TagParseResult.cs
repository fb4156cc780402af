namespace Tollgate.Core.Tagging;

/// <summary>Tags of a request, or why they were rejected.</summary>
public sealed record TagParseResult(IReadOnlyDictionary<string, string>? Tags, string? Error, IReadOnlyList<string> MissingKeys)
{
    public static TagParseResult Valid(IReadOnlyDictionary<string, string> tags) => new(tags, null, []);

    public static TagParseResult Invalid(string error, IReadOnlyList<string> missing) => new(null, error, missing);
}
