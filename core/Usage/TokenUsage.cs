namespace Tollgate.Core.Usage;

/// <summary>
/// Billed tokens split into disjoint types that add up to every token the provider bills:
/// <see cref="Input"/> is uncached input, <see cref="CacheRead"/>/<see cref="CacheWrite"/> cached input read and written,
/// <see cref="Output"/> output other than reasoning, <see cref="Reasoning"/> reasoning output.
/// </summary>
public readonly record struct TokenUsage(long Input, long Output, long CacheRead, long CacheWrite, long Reasoning)
{
    public static TokenUsage Zero => default;

    public long Total => Input + Output + CacheRead + CacheWrite + Reasoning;

    public static TokenUsage operator +(TokenUsage a, TokenUsage b) => new(
        a.Input + b.Input, a.Output + b.Output, a.CacheRead + b.CacheRead, a.CacheWrite + b.CacheWrite, a.Reasoning + b.Reasoning);

    public static TokenUsage Add(TokenUsage a, TokenUsage b) => a + b;
}
