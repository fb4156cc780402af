using Tollgate.Core.Pricing;
using Tollgate.Core.Serialization;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Pricing;

public sealed class PricingCatalogTests
{
    private static readonly PricingCatalog Embedded = PricingCatalog.LoadEmbedded();

    // ------------------------------------------------------------- embedded catalog

    [Fact]
    public void Embedded_catalog_loads_with_unique_positive_priced_models()
    {
        var catalog = PricingCatalog.LoadEmbedded();

        Assert.Equal("embedded models.yaml", catalog.Origin);
        Assert.True(catalog.Models.Count >= 40, $"only {catalog.Models.Count} models");
        Assert.Equal(catalog.Models.Count, catalog.Models.Select(m => m.Model).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(catalog.Models, m =>
        {
            Assert.True(m.Provider is "anthropic" or "openai", m.Model);
            Assert.True(m.Input > 0, m.Model);
            Assert.True(m.Output >= 0, m.Model);
            Assert.True(m.CacheRead > 0, m.Model);
            Assert.True(m.CacheWrite > 0, m.Model);
            Assert.False(string.IsNullOrWhiteSpace(m.Source), m.Model);
        });
    }

    [Fact]
    public void Claude_sonnet_4_5_lists_at_3_and_15_dollars()
    {
        // Anchor: the public list price, so a slip in the yaml or in decimal parsing cannot go unnoticed.
        var sonnet = Entry("claude-sonnet-4-5");

        Assert.Equal("anthropic", sonnet.Provider);
        Assert.Equal(3.00m, sonnet.Input);
        Assert.Equal(15.00m, sonnet.Output);
        Assert.Equal(0.30m, sonnet.CacheRead);
        Assert.Equal(3.75m, sonnet.CacheWrite);
    }

    [Theory]
    [InlineData("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5")]
    [InlineData("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5")]
    [InlineData("anthropic", "Claude-Sonnet-4-5", "claude-sonnet-4-5")]
    [InlineData("anthropic", " claude-sonnet-4-5 ", "claude-sonnet-4-5")]
    [InlineData("anthropic", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5")]
    [InlineData("anthropic", "claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5")]
    [InlineData("anthropic", "anthropic/claude-haiku-4-5", "claude-haiku-4-5")]
    [InlineData("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5")]
    [InlineData("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1")]
    [InlineData("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4")]
    [InlineData("anthropic", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet")]
    [InlineData("openai", "gpt-4o-2024-08-06", "gpt-4o")]
    [InlineData("openai", "openai/gpt-4o", "gpt-4o")]
    [InlineData("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini")]
    [InlineData("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini")]
    [InlineData("openai", "gpt-5-mini-2025-08-07", "gpt-5-mini")]
    [InlineData("openai", "o3-mini-2025-01-31", "o3-mini")]
    [InlineData("openai", "o4-mini-2025-04-16", "o4-mini")]
    [InlineData("openai", "text-embedding-3-small", "text-embedding-3-small")]
    public void Model_names_resolve_to_their_catalog_family(string provider, string model, string family)
    {
        var quote = Embedded.Resolve(provider, model);

        Assert.True(quote.Known);
        Assert.Equal(Entry(family), quote.Price);
    }

    [Fact]
    public void Dated_sonnet_snapshot_is_priced_like_the_family()
    {
        var quote = Embedded.Resolve("anthropic", "claude-sonnet-4-5-20250929");

        Assert.True(quote.Known);
        Assert.Equal("claude-sonnet-4-5", quote.Price.Model);
        Assert.Equal(3.00m, quote.Price.Input);
        Assert.Equal(15.00m, quote.Price.Output);
    }

    [Theory]
    [InlineData("anthropic", "claude-opus-4-0", "claude-opus-4")]
    [InlineData("anthropic", "claude-sonnet-4-0", "claude-sonnet-4")]
    [InlineData("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku")]
    [InlineData("openai", "gpt-5.1-codex", "gpt-5.1")]
    [InlineData("openai", "GPT-5-CHAT-LATEST", "gpt-5")]
    public void Alias_resolves_to_its_model(string provider, string alias, string family)
    {
        var quote = Embedded.Resolve(provider, alias);

        Assert.True(quote.Known);
        Assert.Equal(Entry(family), quote.Price);
    }

    [Fact]
    public void Exactly_listed_snapshot_wins_over_suffix_removal()
    {
        var quote = Embedded.Resolve("openai", "gpt-4o-2024-05-13");

        Assert.True(quote.Known);
        Assert.Equal("gpt-4o-2024-05-13", quote.Price.Model);
        Assert.Equal(5.00m, quote.Price.Input);
        Assert.NotEqual(Entry("gpt-4o"), quote.Price);
    }

    [Theory]
    [InlineData("anthropic", "claude-imaginary-9")]
    [InlineData("openai", "gpt-9-turbo-2031-01-01")]
    [InlineData("openai", "")]
    [InlineData("openai", null)]
    public void Unknown_model_is_priced_at_the_most_expensive_rate_of_each_type(string provider, string? model)
    {
        var quote = Embedded.Resolve(provider, model);

        Assert.False(quote.Known);
        Assert.Equal(provider, quote.Price.Provider);
        Assert.Equal((model ?? string.Empty).Trim(), quote.Price.Model);
        Assert.Equal(Embedded.Models.Max(m => m.Input), quote.Price.Input);
        Assert.Equal(Embedded.Models.Max(m => m.Output), quote.Price.Output);
        Assert.Equal(Embedded.Models.Max(m => m.CacheRead), quote.Price.CacheRead);
        Assert.Equal(Embedded.Models.Max(m => m.CacheWrite), quote.Price.CacheWrite);
        Assert.True(quote.Price.Input > 0 && quote.Price.Output > 0 && quote.Price.CacheRead > 0 && quote.Price.CacheWrite > 0);
    }

    [Fact]
    public void Embedded_fallback_matches_the_rates_its_comment_states()
    {
        Assert.Equal(15m, Embedded.Fallback.Input);
        Assert.Equal(75m, Embedded.Fallback.Output);
        Assert.Equal(7.50m, Embedded.Fallback.CacheRead);
        Assert.Equal(18.75m, Embedded.Fallback.CacheWrite);
    }

    [Fact]
    public void Resolving_the_same_unknown_name_for_two_providers_keeps_each_provider()
    {
        var a = Embedded.Resolve("anthropic", "mystery-model");
        var o = Embedded.Resolve("openai", "mystery-model");

        Assert.Equal("anthropic", a.Price.Provider);
        Assert.Equal("openai", o.Price.Provider);
        Assert.Equal(a.Price with { Provider = "openai" }, o.Price);
    }

    // ---------------------------------------------------------------------- cost

    [Fact]
    public void Cost_bills_each_token_type_at_its_rate_and_reasoning_at_the_output_rate()
    {
        var sonnet = Embedded.Resolve("anthropic", "claude-sonnet-4-5-20250929").Price;
        var usage = new TokenUsage(Input: 1000, Output: 500, CacheRead: 2000, CacheWrite: 300, Reasoning: 200);

        // (1000 × 3 + (500 + 200) × 15 + 2000 × 0.30 + 300 × 3.75) / 1e6 = (3000 + 10500 + 600 + 1125) / 1e6
        Assert.Equal(0.015225m, sonnet.Cost(usage));
    }

    [Fact]
    public void Cost_of_an_openai_chat_usage_is_exact_to_the_micro_cent()
    {
        var mini = Embedded.Resolve("openai", "gpt-4o-mini-2024-07-18").Price;
        var usage = new TokenUsage(Input: 128, Output: 9, CacheRead: 1920, CacheWrite: 0, Reasoning: 64);

        // (128 × 0.15 + 73 × 0.60 + 1920 × 0.075) / 1e6 = (19.2 + 43.8 + 144) / 1e6
        Assert.Equal(0.000207m, mini.Cost(usage));
    }

    [Fact]
    public void Cost_of_zero_usage_is_zero_and_unknown_models_are_never_free()
    {
        var usage = new TokenUsage(Input: 1_000_000, Output: 1_000_000, CacheRead: 0, CacheWrite: 0, Reasoning: 0);

        Assert.Equal(0m, Entry("gpt-4o").Cost(TokenUsage.Zero));
        Assert.Equal(15m + 75m, Embedded.Resolve("openai", "no-such-model").Price.Cost(usage));
    }

    // ------------------------------------------------------------ custom catalogs

    [Fact]
    public void Custom_catalog_with_fixed_fallback_defaults_cache_rates_to_input()
    {
        var catalog = PricingCatalog.Parse("custom.yaml", """
            version: 1
            currency: usd
            fallback:
              mode: fixed
              input: 4
              output: 16
            models:
              - provider: openai
                model: gpt-test
                aliases: [gpt-test-latest-alias]
                input: 1.5
                output: 6
                cacheRead: 0.15
                cacheWrite: 1.5
            """);

        Assert.Equal("custom.yaml", catalog.Origin);
        var model = Assert.Single(catalog.Models);
        Assert.Equal(new ModelPrice("openai", "gpt-test", 1.5m, 6m, 0.15m, 1.5m, null), model);
        Assert.Equal(model, catalog.Resolve("openai", "gpt-test-latest-alias").Price);
        var unknown = catalog.Resolve("openai", "other");
        Assert.False(unknown.Known);
        Assert.Equal((4m, 16m, 4m, 4m), (unknown.Price.Input, unknown.Price.Output, unknown.Price.CacheRead, unknown.Price.CacheWrite));
    }

    [Fact]
    public void Load_file_reads_a_catalog_from_disk()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tollgate-pricing-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, ValidCatalog);
        try
        {
            var catalog = PricingCatalog.LoadFile(path);

            Assert.Equal(path, catalog.Origin);
            Assert.Equal(2, catalog.Models.Count);
            Assert.Equal(2.5m, catalog.Resolve("openai", "gpt-test-2024-08-06").Price.Input);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_file_of_a_missing_path_names_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tollgate-missing-{Guid.NewGuid():N}.yaml");

        var ex = Assert.Throws<DocumentException>(() => PricingCatalog.LoadFile(path));

        Assert.StartsWith(path + ": cannot read the pricing catalog", ex.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------ invalid catalogs

    [Fact]
    public void Negative_rate_is_rejected_at_its_field_and_line()
    {
        var ex = Invalid(ValidCatalog.Replace("input: 2.5", "input: -2.5", StringComparison.Ordinal));

        Assert.Contains("models[0].input", ex.Message, StringComparison.Ordinal);
        Assert.Contains("(line 8)", ex.Message, StringComparison.Ordinal);
        Assert.Equal("bad.yaml: models[0].input: must not be negative (line 8)", ex.Message);
    }

    [Fact]
    public void Missing_output_rate_is_rejected_at_its_entry_line()
    {
        var ex = Invalid(ValidCatalog.Replace("    output: 10\n", string.Empty, StringComparison.Ordinal));

        Assert.Contains("models[0].output", ex.Message, StringComparison.Ordinal);
        Assert.Contains("(line 6)", ex.Message, StringComparison.Ordinal); // no output line: the entry's first line
        Assert.Equal("bad.yaml: models[0].output: is required (USD per 1M tokens) (line 6)", ex.Message);
    }

    [Fact]
    public void Duplicate_model_name_is_rejected_at_the_second_entry()
    {
        var ex = Invalid(ValidCatalog.Replace("model: claude-test", "model: GPT-TEST", StringComparison.Ordinal));

        Assert.Contains("models[1].model", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"GPT-TEST\" is listed twice", ex.Message, StringComparison.Ordinal);
        Assert.Contains("(line 13)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Alias_repeating_another_model_name_is_rejected()
    {
        var ex = Invalid(ValidCatalog.Replace("aliases: [claude-test-0]", "aliases: [gpt-test]", StringComparison.Ordinal));

        Assert.Contains("models[1].model", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"gpt-test\" is listed twice", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_provider_is_rejected_at_its_field_and_line()
    {
        var ex = Invalid(ValidCatalog.Replace("provider: anthropic", "provider: azure", StringComparison.Ordinal));

        Assert.Contains("models[1].provider", ex.Message, StringComparison.Ordinal);
        Assert.Contains("azure", ex.Message, StringComparison.Ordinal);
        Assert.Equal("bad.yaml: models[1].provider: must be anthropic or openai (got \"azure\") (line 12)", ex.Message);
    }

    [Fact]
    public void Free_fallback_mode_is_rejected()
    {
        var ex = Invalid(ValidCatalog.Replace("mode: max", "mode: free", StringComparison.Ordinal));

        Assert.Contains("fallback.mode", ex.Message, StringComparison.Ordinal);
        Assert.Equal("bad.yaml: fallback.mode: must be max or fixed (got \"free\") (line 4)", ex.Message);
    }

    [Fact]
    public void Zero_fixed_fallback_is_rejected()
    {
        var ex = Invalid(ValidCatalog.Replace("  mode: max\n", "  mode: fixed\n  input: 0\n  output: 0\n", StringComparison.Ordinal));

        Assert.Contains("fallback", ex.Message, StringComparison.Ordinal);
        Assert.Contains("free", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Misspelt_field_is_rejected_at_its_field_and_line()
    {
        var ex = Invalid(ValidCatalog.Replace("input: 2.5", "inptu: 2.5", StringComparison.Ordinal));

        Assert.Contains("models[0].inptu", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown field", ex.Message, StringComparison.Ordinal);
        Assert.Contains("(line 8)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rate_of_the_wrong_type_is_rejected_at_its_field_and_line()
    {
        var ex = Invalid(ValidCatalog.Replace("output: 10", "output: ten", StringComparison.Ordinal));

        Assert.Contains("models[0].output", ex.Message, StringComparison.Ordinal);
        Assert.Contains("a number", ex.Message, StringComparison.Ordinal);
        Assert.Contains("(line 9)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_usd_currency_is_rejected()
    {
        var ex = Invalid(ValidCatalog.Replace("currency: usd", "currency: eur", StringComparison.Ordinal));

        Assert.Equal("bad.yaml: currency: only usd is supported (got \"eur\") (line 2)", ex.Message);
    }

    [Fact]
    public void Every_problem_is_listed()
    {
        var ex = Invalid(ValidCatalog
            .Replace("input: 2.5", "input: -2.5", StringComparison.Ordinal)
            .Replace("provider: anthropic", "provider: azure", StringComparison.Ordinal));

        Assert.Equal(2, ex.Errors.Count);
        Assert.Equal(new string?[] { "models[0].input", "models[1].provider" }, ex.Errors.Select(e => e.Field));
        Assert.EndsWith("(and 1 more)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_syntax_error_names_file_and_line()
    {
        var ex = Invalid("version: 1\nmodels:\n  - provider: openai\n   model: [unclosed\n");

        Assert.StartsWith("bad.yaml: invalid YAML", ex.Message, StringComparison.Ordinal);
        Assert.Matches(@"\(line \d+\)$", ex.Message);
    }

    // ------------------------------------------------------------------ helpers

    // Line numbers matter to the tests above: models[0] starts on line 6 (input 8, output 9), models[1] on line 12 (model 13).
    private const string ValidCatalog = """
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
          - provider: anthropic
            model: claude-test
            aliases: [claude-test-0]
            input: 3
            output: 15
            cacheRead: 0.3
            cacheWrite: 3.75

        """;

    private static ModelPrice Entry(string model) => Embedded.Models.Single(m => m.Model == model);

    private static DocumentException Invalid(string yaml)
    {
        Assert.NotEqual(ValidCatalog, yaml);
        return Assert.Throws<DocumentException>(() => PricingCatalog.Parse("bad.yaml", yaml));
    }
}
