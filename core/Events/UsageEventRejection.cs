namespace Tollgate.Core.Events;

/// <summary>Why a usage stream entry or a recorded line was not taken as a usage event.</summary>
/// <param name="Reason">One of <see cref="UsageEventRejections.All"/> (a metric label, so the set is closed).</param>
/// <param name="Detail">
/// What is wrong, naming the field; any quoted input is cut to <see cref="Tagging.ModelName.PreviewLength"/> characters
/// with control characters escaped, so the detail is safe in a log line.
/// </param>
public sealed record UsageEventRejection(string Reason, string Detail);

/// <summary>The reasons of <c>tollgate_usage_events_rejected_total</c>.</summary>
public static class UsageEventRejections
{
    /// <summary>Not JSON, not an object, or a field of the wrong JSON type.</summary>
    public const string Malformed = "malformed";

    /// <summary>A required field is absent.</summary>
    public const string MissingField = "missing_field";

    /// <summary>The <c>v</c> field names a version this reader does not know.</summary>
    public const string UnsupportedVersion = "unsupported_version";

    /// <summary>The entry is larger than any event a meter writes, or holds too many tags or budgets.</summary>
    public const string TooLarge = "too_large";

    /// <summary>A count, amount or duration that is negative, not finite, or past its bound.</summary>
    public const string OutOfRange = "out_of_range";

    /// <summary>A tag, model, namespace or name the meter would have refused (length, control characters, unpaired surrogates).</summary>
    public const string InvalidText = "invalid_text";

    /// <summary>The event's time is older than the stream's retention or further ahead than clocks drift.</summary>
    public const string TimeOutOfWindow = "time_out_of_window";

    /// <summary>A stream entry without an <c>event</c> field.</summary>
    public const string MissingEvent = "missing_event";

    public static readonly IReadOnlyList<string> All =
        [Malformed, MissingField, UnsupportedVersion, TooLarge, OutOfRange, InvalidText, TimeOutOfWindow, MissingEvent];
}
