using System.Buffers;
using System.Globalization;
using System.Text;

namespace Tollgate.Core.Tagging;

/// <summary>
/// What the meter accepts as a model name, in a request body or in a routing rule: at most <see cref="MaxLength"/>
/// characters, each of them visible (a letter, mark, digit, punctuation or symbol). Refused: spaces and other
/// whitespace, control characters (NUL, ESC, CR, LF…), invisible format characters (bidi overrides, zero-width
/// joiners), private-use and unassigned code points, and unpaired surrogates. Every provider's ids fit:
/// <c>claude-sonnet-4-5-20250929</c>, <c>ft:gpt-4o-mini:org::abc123</c>, <c>anthropic.claude-3-5-sonnet-20240620-v1:0</c>,
/// <c>accounts/fireworks/models/llama-v3p1-70b-instruct</c>.
/// </summary>
/// <remarks>
/// The model is a metric label and goes into log lines: one 5 MB model name made a 117 MB <c>/metrics</c> and a 5 MB
/// log line, and an ESC in it drives the terminal of whoever reads the log. The length matches the tag values'
/// (<see cref="RequestTags.MaxValueLength"/>). An absent or empty model is not judged here: the provider refuses it.
/// </remarks>
public static class ModelName
{
    public const int MaxLength = 256;

    /// <summary>How much of a refused value an error message quotes.</summary>
    public const int PreviewLength = 64;

    /// <summary>Null for an acceptable request model (or none); otherwise the error message for the client.</summary>
    public static string? Validate(string? model) =>
        string.IsNullOrEmpty(model) || Problem(model) is not { } problem
            ? null
            : $"The request's \"model\" {problem} (starts \"{Preview(model)}\"). A model name is at most {MaxLength} visible characters: no spaces or control characters.";

    public static bool IsValid(string model) => model.Length > 0 && Problem(model) is null;

    /// <summary>
    /// Null when <paramref name="model"/> is acceptable; otherwise what is wrong with it, phrased to follow the name of
    /// the field ("is 300 characters long, over the limit of 256").
    /// </summary>
    public static string? Problem(string model)
    {
        if (model.Length > MaxLength)
        {
            return $"is {model.Length} characters long, over the limit of {MaxLength}";
        }

        var span = model.AsSpan();
        for (var i = 0; i < span.Length;)
        {
            if (Rune.DecodeFromUtf16(span[i..], out var rune, out var consumed) != OperationStatus.Done)
            {
                return $"has an unpaired surrogate U+{(int)span[i]:X4} at character {i + 1}";
            }

            if (Refusal(Rune.GetUnicodeCategory(rune)) is { } kind)
            {
                return $"has {kind} U+{rune.Value:X4} at character {i + 1}";
            }

            i += consumed;
        }

        return null;
    }

    /// <summary>
    /// The start of <paramref name="value"/> fit to quote in a message or a log line: at most <see cref="PreviewLength"/>
    /// characters, then "…"; backslash and every character <see cref="Problem"/> refuses but the plain space written as
    /// <c>\uXXXX</c>.
    /// </summary>
    public static string Preview(string value)
    {
        var text = new StringBuilder(PreviewLength + 16);
        var span = value.AsSpan();
        var i = 0;
        while (i < span.Length && i < PreviewLength)
        {
            var status = Rune.DecodeFromUtf16(span[i..], out var rune, out var consumed);
            if (status != OperationStatus.Done)
            {
                text.Append(CultureInfo.InvariantCulture, $"\\u{(int)span[i]:X4}");
                i++;
                continue;
            }

            if (rune.Value == '\\')
            {
                text.Append(@"\\");
            }
            else if (rune.Value != ' ' && Refusal(Rune.GetUnicodeCategory(rune)) is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $"\\u{rune.Value:X4}");
            }
            else
            {
                text.Append(span.Slice(i, consumed));
            }

            i += consumed;
        }

        return i < span.Length ? text.Append('…').ToString() : text.ToString();
    }

    private static string? Refusal(UnicodeCategory category) => category switch
    {
        UnicodeCategory.Control => "a control character",
        UnicodeCategory.Format => "an invisible format character",
        UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => "whitespace",
        UnicodeCategory.PrivateUse => "a private-use character",
        UnicodeCategory.OtherNotAssigned => "an unassigned code point",
        UnicodeCategory.Surrogate => "an unpaired surrogate",
        _ => null,
    };
}
