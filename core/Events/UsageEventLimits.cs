namespace Tollgate.Core.Events;

/// <summary>
/// The bounds a usage event must keep to be counted. They sit far above anything a meter produces and far below what
/// breaks a sum: a single hostile entry with 1e19 tokens or $1e30 would otherwise overflow or swamp every total it joins.
/// </summary>
public sealed record UsageEventLimits
{
    /// <summary>The largest entry read, in bytes. A meter's event is under 8 KiB even with 32 tags of 256 characters.</summary>
    public int MaxBytes { get; init; } = 64 * 1024;

    /// <summary>The most tokens of one type in one event (10^12).</summary>
    public long MaxTokens { get; init; } = 1_000_000_000_000;

    /// <summary>The largest cost, saving or dollar charge of one event ($1,000,000).</summary>
    public decimal MaxUsd { get; init; } = 1_000_000m;

    /// <summary>The longest latency or time to first token (7 days).</summary>
    public double MaxSeconds { get; init; } = TimeSpan.FromDays(7).TotalSeconds;

    /// <summary>The most budget charges in one event.</summary>
    public int MaxBudgets { get; init; } = 64;

    /// <summary>How far before now an event may be dated; null for no bound (recorded history read by the offline tools).</summary>
    public TimeSpan? MaxAge { get; init; }

    /// <summary>How far after now an event may be dated: clock skew between nodes, never a forecast's worth of future spend.</summary>
    public TimeSpan MaxAhead { get; init; } = TimeSpan.FromDays(1);

    /// <summary>The limits of events read from a usage stream: nothing older than the stream keeps.</summary>
    public static UsageEventLimits ForStream(UsageStreamOptions options) => new() { MaxAge = options.Retention };

    /// <summary>The limits of recorded history (files, backtests): any past time.</summary>
    public static UsageEventLimits ForHistory { get; } = new();
}
