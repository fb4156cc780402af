using System.Text;
using Tollgate.Core.Budgets;
using Tollgate.Core.Estimation;
using Tollgate.Core.Pricing;
using Tollgate.Core.Serialization;

namespace Tollgate.Core.Tests.Pricing;

/// <summary>
/// <c>maxOutputTokens</c> in the pricing catalog, and the clamp it puts on a reservation: whatever a client asks for,
/// the meter reserves at most what the model can produce.
/// </summary>
public sealed class PricingOutputCapTests
{
    private static readonly PricingCatalog Embedded = PricingCatalog.LoadEmbedded();

    // ------------------------------------------------------------- embedded catalog

    [Fact]
    public void Every_generating_model_of_the_embedded_catalog_has_an_output_cap_and_embedding_models_none()
    {
        Assert.All(Embedded.Models, m =>
        {
            if (m.Model.StartsWith("text-embedding-", StringComparison.Ordinal))
            {
                Assert.Null(m.MaxOutputTokens);
            }
            else
            {
                Assert.True(m.MaxOutputTokens is >= 4096 and <= 128_000, $"{m.Model}: {m.MaxOutputTokens}");
            }
        });
    }

    [Theory]
    [InlineData("anthropic", "claude-sonnet-4-5", 64_000)]
    [InlineData("anthropic", "claude-sonnet-4-5-20250929", 64_000)]
    [InlineData("anthropic", "claude-opus-4-1", 32_000)]
    [InlineData("anthropic", "claude-opus-4", 32_000)]
    [InlineData("anthropic", "claude-haiku-4-5", 64_000)]
    [InlineData("anthropic", "claude-opus-4-6", 128_000)]
    [InlineData("anthropic", "claude-fable-5-1", 128_000)]
    [InlineData("anthropic", "claude-3-5-haiku-latest", 8192)]
    [InlineData("anthropic", "claude-3-haiku", 4096)]
    [InlineData("openai", "gpt-4o", 16_384)]
    [InlineData("openai", "gpt-4o-2024-08-06", 16_384)]
    [InlineData("openai", "gpt-4o-2024-05-13", 4096)]
    [InlineData("openai", "gpt-4.1", 32_768)]
    [InlineData("openai", "o3", 100_000)]
    [InlineData("openai", "o4-mini", 100_000)]
    [InlineData("openai", "gpt-5", 128_000)]
    [InlineData("openai", "gpt-5-codex", 128_000)]
    public void Published_maximum_output_resolves_with_the_model(string provider, string model, long expected)
    {
        var quote = Embedded.Resolve(provider, model);

        Assert.True(quote.Known);
        Assert.Equal(expected, quote.Price.MaxOutputTokens);
        Assert.Equal(expected, quote.Price.OutputTokenCap);
    }

    [Fact]
    public void Unknown_model_is_capped_at_the_safe_maximum()
    {
        var quote = Embedded.Resolve("openai", "gpt-from-the-future");

        Assert.False(quote.Known);
        Assert.Equal(128_000, quote.Price.MaxOutputTokens);
        Assert.Equal(ModelPrice.SafeMaxOutputTokens, quote.Price.OutputTokenCap);
    }

    // ------------------------------------------------------------------ the clamp

    [Theory]
    [InlineData(long.MaxValue, 64_000)]
    [InlineData(9_007_199_254_740_992, 64_000)]
    [InlineData(64_001, 64_000)]
    [InlineData(64_000, 64_000)]
    [InlineData(1024, 1024)]
    [InlineData(0, 0)]
    [InlineData(-1, 64_000)]
    [InlineData(long.MinValue, 64_000)]
    public void Reserved_output_is_what_the_request_asks_for_but_never_more_than_the_model_produces(long requested, long reserved)
    {
        var haiku = Embedded.Resolve("anthropic", "claude-haiku-4-5").Price;

        var estimate = BudgetEstimate.Reserve(haiku, 10, requested);

        Assert.Equal(reserved, estimate.Tokens.Output);
        Assert.Equal(10 + reserved, estimate.Tokens.Total);

        // Input at the dearest input rate (the 1.25 cache write), output at 5 per million.
        Assert.Equal(((10 * 1.25m) + (reserved * 5m)) / 1_000_000m, estimate.Cost);
    }

    [Fact]
    public void Estimate_for_a_huge_max_tokens_equals_the_model_maximum_from_the_request_body_on()
    {
        var shape = RequestShape.Read(Encoding.UTF8.GetBytes("""{"model":"claude-sonnet-4-5-20250929","max_tokens":9223372036854775807,"messages":[]}"""));
        var price = Embedded.Resolve("anthropic", shape.Model).Price;

        var estimate = BudgetEstimate.Reserve(price, 0, shape.MaxOutputTokens ?? 4096);

        Assert.Equal(long.MaxValue, shape.MaxOutputTokens);
        Assert.Equal(64_000, estimate.Tokens.Output);
        Assert.Equal(64_000 * 15m / 1_000_000m, estimate.Cost);
    }

    [Fact]
    public void Unknown_model_with_a_huge_max_tokens_reserves_the_safe_cap_at_the_fallback_rate()
    {
        var fallback = Embedded.Resolve("anthropic", "claude-unreleased").Price;

        var estimate = BudgetEstimate.Reserve(fallback, 100, long.MaxValue);

        Assert.Equal(128_000, estimate.Tokens.Output);
        Assert.Equal(((100 * fallback.CacheWrite) + (128_000 * fallback.Output)) / 1_000_000m, estimate.Cost);
        Assert.True(estimate.Cost > 0);
    }

    // ------------------------------------------------------------- catalog validation

    [Fact]
    public void Output_cap_is_optional_and_read_when_given()
    {
        var catalog = PricingCatalog.Parse("custom.yaml", Catalog("    maxOutputTokens: 32000\n"));

        Assert.Equal(32_000, catalog.Resolve("openai", "gpt-test").Price.MaxOutputTokens);
        var without = catalog.Resolve("anthropic", "claude-test").Price;
        Assert.Null(without.MaxOutputTokens);
        Assert.Equal(ModelPrice.SafeMaxOutputTokens, without.OutputTokenCap);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-64000")]
    [InlineData("10000001")]
    [InlineData("9223372036854775807")]
    public void Output_cap_that_is_not_a_positive_count_is_rejected_at_its_field_and_line(string value)
    {
        var ex = Assert.Throws<DocumentException>(() => PricingCatalog.Parse("bad.yaml", Catalog($"    maxOutputTokens: {value}\n")));

        Assert.Equal($"bad.yaml: models[0].maxOutputTokens: must be a positive whole number of tokens, at most 10000000 (got {value}) (line 12)", ex.Message);
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("1e30")]
    [InlineData("lots")]
    public void Output_cap_that_is_not_a_whole_number_is_rejected_at_its_field(string value)
    {
        var ex = Assert.Throws<DocumentException>(() => PricingCatalog.Parse("bad.yaml", Catalog($"    maxOutputTokens: {value}\n")));

        Assert.Contains("models[0].maxOutputTokens", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fallback_output_cap_can_be_set_and_is_validated()
    {
        var catalog = PricingCatalog.Parse("custom.yaml", Catalog(string.Empty).Replace("  mode: max\n", "  mode: max\n  maxOutputTokens: 32768\n", StringComparison.Ordinal));
        Assert.Equal(32_768, catalog.Resolve("openai", "unknown").Price.OutputTokenCap);

        var ex = Assert.Throws<DocumentException>(() =>
            PricingCatalog.Parse("bad.yaml", Catalog(string.Empty).Replace("  mode: max\n", "  mode: max\n  maxOutputTokens: 0\n", StringComparison.Ordinal)));
        Assert.Contains("fallback.maxOutputTokens", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rate_above_a_dollar_a_token_is_rejected()
    {
        var ex = Assert.Throws<DocumentException>(() => PricingCatalog.Parse("bad.yaml", Catalog(string.Empty).Replace("output: 10", "output: 1000001", StringComparison.Ordinal)));

        Assert.Equal("bad.yaml: models[0].output: must be at most 1000000 (USD per 1M tokens) (line 9)", ex.Message);
    }

    // Line numbers: models[0] starts on line 6 (output 9, the inserted field 12).
    private static string Catalog(string firstModelExtra) => $"""
        version: 1
        currency: usd
        fallback:
          mode: max
        models:
          - provider: openai
            model: gpt-test
            input: 2.5
            output: 10
            cacheRead: 1.25
            cacheWrite: 2.5
        {firstModelExtra}  - provider: anthropic
            model: claude-test
            input: 3
            output: 15
            cacheRead: 0.3
            cacheWrite: 3.75

        """;
}
