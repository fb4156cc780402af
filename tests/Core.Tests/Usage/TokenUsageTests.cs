using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Usage;

/// <summary>Token arithmetic saturates: a huge count stays huge and positive instead of wrapping into a negative one.</summary>
public sealed class TokenUsageTests
{
    [Fact]
    public void Total_of_counts_beyond_int64_stays_at_int64_max()
    {
        Assert.Equal(long.MaxValue, new TokenUsage(20, long.MaxValue, 0, 0, 0).Total);
        Assert.Equal(long.MaxValue, new TokenUsage(long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue, long.MaxValue).Total);
        Assert.Equal(1_234L, new TokenUsage(1000, 200, 30, 4, 0).Total);
    }

    [Fact]
    public void Sum_of_usages_saturates_per_token_type()
    {
        var sum = new TokenUsage(long.MaxValue - 1, 5, 0, 0, long.MaxValue) + new TokenUsage(10, 6, 0, 0, 1);

        Assert.Equal(new TokenUsage(long.MaxValue, 11, 0, 0, long.MaxValue), sum);
    }

    [Theory]
    [InlineData(long.MaxValue, 1, long.MaxValue)]
    [InlineData(long.MinValue, -1, long.MinValue)]
    [InlineData(long.MaxValue, long.MinValue, -1)]
    [InlineData(-5, 3, -2)]
    public void Saturating_add_stops_at_the_bound_it_passes(long a, long b, long expected) =>
        Assert.Equal(expected, TokenUsage.SaturatingAdd(a, b));

    [Fact]
    public void Cost_of_output_and_reasoning_beyond_int64_is_positive_not_wrapped()
    {
        var price = new ModelPrice("openai", "o3", 2m, 8m, 0.5m, 2m, null);

        var cost = price.Cost(new TokenUsage(0, long.MaxValue, 0, 0, long.MaxValue));

        Assert.Equal(2m * long.MaxValue * 8m / 1_000_000m, cost);
    }
}
