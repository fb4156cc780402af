using System.Text;
using Tollgate.Core.Estimation;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Estimation;

public sealed class InputTokenEstimatorTests
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes(
        """{"model":"gpt-4o","messages":[{"role":"user","content":"Review this pull request and list every function whose error handling changed, with the line numbers."}]}""");

    [Fact]
    public void Tokenizer_counts_close_to_real_tokens_and_below_the_byte_bound()
    {
        var tokens = new InputTokenEstimator(InputEstimateMode.Tokenizer).Estimate(Body, Providers.OpenAI);

        // o200k gives about 4 bytes per token for English prose plus JSON syntax.
        Assert.InRange(tokens, Body.Length / 6, Body.Length / 2);
    }

    [Fact]
    public void Tokenizer_estimate_is_raised_for_anthropic()
    {
        var estimator = new InputTokenEstimator(InputEstimateMode.Tokenizer);
        var openAi = estimator.Estimate(Body, Providers.OpenAI);

        Assert.Equal((long)Math.Ceiling(openAi * InputTokenEstimator.AnthropicFactor), estimator.Estimate(Body, Providers.Anthropic));
    }

    [Fact]
    public void Bytes_mode_bounds_with_one_token_per_byte_for_every_provider()
    {
        var estimator = new InputTokenEstimator(InputEstimateMode.Bytes);

        Assert.Equal(Body.Length, estimator.Estimate(Body, Providers.OpenAI));
        Assert.Equal(Body.Length, estimator.Estimate(Body, Providers.Anthropic));
    }

    [Fact]
    public void Bodies_above_the_tokenizer_limit_use_half_a_token_per_byte()
    {
        var large = new byte[InputTokenEstimator.TokenizerMaxBytes + 2];

        Assert.Equal(large.Length / 2, new InputTokenEstimator().Estimate(large, Providers.OpenAI));
    }
}
