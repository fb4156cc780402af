using System.Text.Json;

namespace Tollgate.Core.Tagging;

/// <summary>
/// Request tags from <c>X-Tollgate-Metadata</c> (or its alias <c>X-TFY-METADATA</c>): a JSON object of strings.
/// Tags that come from the pod's identity are authoritative; a header may only add finer keys.
/// </summary>
public static class RequestTags
{
    public const string HeaderName = "X-Tollgate-Metadata";
    public const string AliasHeaderName = "X-TFY-METADATA";

    // A label value longer than this is a mistake or an attack on metric cardinality, not a tag.
    public const int MaxValueLength = 256;
    public const int MaxKeys = 32;

    /// <summary>What <see cref="ValueProblem"/> says of a blank value.</summary>
    public const string BlankValue = "is blank";

    /// <summary>Parses the header value and merges it under the authoritative tags.</summary>
    public static TagParseResult Parse(string? header, string headerName, IReadOnlyDictionary<string, string> authoritative, IReadOnlyList<string> mandatoryKeys)
    {
        var tags = new Dictionary<string, string>(authoritative, StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(header))
        {
            var error = ReadHeader(header, headerName, tags, authoritative);
            if (error is not null)
            {
                return TagParseResult.Invalid(error, []);
            }
        }

        List<string>? missing = null;
        foreach (var key in mandatoryKeys)
        {
            if (!tags.TryGetValue(key, out var value) || value.Length == 0)
            {
                (missing ??= []).Add(key);
            }
        }

        if (missing is not null)
        {
            var message = header is null
                ? $"Missing required request tags: {string.Join(", ", missing)}. Send them in the {HeaderName} header as a JSON object, e.g. {HeaderName}: {Example(mandatoryKeys)}."
                : $"The {headerName} header lacks required tags: {string.Join(", ", missing)}. Example: {HeaderName}: {Example(mandatoryKeys)}.";
            return TagParseResult.Invalid(message, missing);
        }

        return TagParseResult.Valid(tags);
    }

    private static string? ReadHeader(string header, string headerName, Dictionary<string, string> tags, IReadOnlyDictionary<string, string> authoritative)
    {
        try
        {
            using var document = JsonDocument.Parse(header);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return $"The {headerName} header must be a JSON object of strings, e.g. {{\"team\":\"payments\"}}; got a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}.";
            }

            var count = 0;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (++count > MaxKeys)
                {
                    return $"The {headerName} header has more than {MaxKeys} keys.";
                }

                if (KeyProblem(property.Name) is not null)
                {
                    return $"The {headerName} header has a key that is empty, longer than {MaxValueLength} characters or holds control characters.";
                }

                if (!seen.Add(property.Name))
                {
                    return $"The {headerName} header gives the key \"{property.Name}\" twice; send each key once.";
                }

                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    return $"The {headerName} header's key \"{property.Name}\" must be a string; got a JSON {property.Value.ValueKind.ToString().ToLowerInvariant()}.";
                }

                var value = property.Value.GetString()!;
                if (ValueProblem(value) is { } problem)
                {
                    return problem == BlankValue
                        ? $"The {headerName} header's key \"{property.Name}\" is blank; give it a value or leave the key out."
                        : $"The {headerName} header's key \"{property.Name}\" {problem}.";
                }

                // The pod's identity wins: a job cannot bill its spend to another team by editing a header.
                if (!authoritative.ContainsKey(property.Name))
                {
                    tags[property.Name] = value;
                }
            }

            return null;
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate (\ud800) is valid JSON syntax but no string: reading it throws.
            return $"The {headerName} header holds an unpaired surrogate (an escape \\uD800-\\uDFFF without its pair); tags must be text.";
        }
        catch (JsonException ex)
        {
            return $"The {headerName} header is not valid JSON ({ex.Message.Split(" Path:")[0].TrimEnd('.')}). Expected a JSON object of strings, e.g. {{\"team\":\"payments\",\"repo\":\"checkout\",\"pipeline\":\"pr-review\"}}.";
        }
    }

    /// <summary>
    /// Null when <paramref name="key"/> is an acceptable tag key: 1 to <see cref="MaxValueLength"/> characters without
    /// control characters or unpaired surrogates. Otherwise what is wrong with it. The meter applies it to the header, the
    /// exporter to every event it reads.
    /// </summary>
    public static string? KeyProblem(string key) =>
        key.Length is 0 or > MaxValueLength || HasControl(key)
            ? $"is empty, longer than {MaxValueLength} characters or holds control characters"
            : null;

    /// <summary>
    /// Null when <paramref name="value"/> is an acceptable tag value: at most <see cref="MaxValueLength"/> characters, not
    /// blank, without control characters or unpaired surrogates. Otherwise what is wrong, phrased to follow the key
    /// ("is longer than 256 characters"); <see cref="BlankValue"/> for a blank one.
    /// </summary>
    public static string? ValueProblem(string value)
    {
        if (value.Length > MaxValueLength)
        {
            return $"is longer than {MaxValueLength} characters";
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            return BlankValue;
        }

        return HasControl(value) ? "holds control characters" : null;
    }

    /// <summary>
    /// True when <paramref name="text"/> holds a control character, a line or paragraph separator, or an unpaired surrogate:
    /// anything that would break a log line, a label or an encoder.
    /// </summary>
    public static bool HasControl(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            // Line and paragraph separators end a log line as surely as \n does.
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                return true;
            }

            // An unpaired surrogate is not text: encoders replace or refuse it, so a label or a log line would change under it.
            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }

                return true;
            }
        }

        return false;
    }

    private static string Example(IReadOnlyList<string> keys) =>
        "{" + string.Join(",", keys.Select(k => $"\"{k}\":\"…\"")) + "}";
}
