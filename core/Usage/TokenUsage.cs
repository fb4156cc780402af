namespace Tollgate.Core.Usage;

/// <summary>
/// Billed tokens split into disjoint types that add up to every token the provider bills:
/// <see cref="Input"/> is uncached input, <see cref="CacheRead"/>/<see cref="CacheWrite"/> cached input read and written,
/// <see cref="Output"/> output other than reasoning, <see cref="Reasoning"/> reasoning output.
/// </summary>
/// <remarks>
/// Sums saturate at <see cref="long.MaxValue"/> (and <see cref="long.MinValue"/>) instead of wrapping: the counts come
/// from requests and responses, and a wrapped sum would turn a huge count into a negative one that opens a budget.
/// </remarks>
public readonly record struct TokenUsage(long Input, long Output, long CacheRead, long CacheWrite, long Reasoning)
{
    public static TokenUsage Zero => default;

    public long Total => SaturatingAdd(SaturatingAdd(SaturatingAdd(SaturatingAdd(Input, Output), CacheRead), CacheWrite), Reasoning);

    public static TokenUsage operator +(TokenUsage a, TokenUsage b) => new(
        SaturatingAdd(a.Input, b.Input),
        SaturatingAdd(a.Output, b.Output),
        SaturatingAdd(a.CacheRead, b.CacheRead),
        SaturatingAdd(a.CacheWrite, b.CacheWrite),
        SaturatingAdd(a.Reasoning, b.Reasoning));

    public static TokenUsage Add(TokenUsage a, TokenUsage b) => a + b;

    /// <summary><paramref name="a"/> + <paramref name="b"/>, or the bound it passed.</summary>
    public static long SaturatingAdd(long a, long b)
    {
        var sum = unchecked(a + b);

        // Overflow happened exactly when both operands share a sign the sum does not.
        return ((a ^ sum) & (b ^ sum)) < 0 ? (a < 0 ? long.MinValue : long.MaxValue) : sum;
    }
}
