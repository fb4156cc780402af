using Tollgate.Core.Tagging;

namespace Tollgate.Core.Tests.Tagging;

public sealed class ModelNameTests
{
    [Theory]
    [InlineData("claude-sonnet-4-5-20250929")]
    [InlineData("gpt-4o-mini")]
    [InlineData("ft:gpt-4o-mini:acme::abc123")]
    [InlineData("anthropic.claude-3-5-sonnet-20240620-v1:0")]
    [InlineData("accounts/fireworks/models/llama-v3p1-70b-instruct")]
    [InlineData("meta-llama/Llama-3.1-8B-Instruct@2024_07")]
    [InlineData("modèle-généré-千问")]
    [InlineData("rocket-🚀")]
    public void Provider_model_ids_are_accepted(string model)
    {
        Assert.Null(ModelName.Problem(model));
        Assert.Null(ModelName.Validate(model));
        Assert.True(ModelName.IsValid(model));
    }

    [Fact]
    public void A_name_of_exactly_the_limit_is_accepted_and_one_more_is_not()
    {
        Assert.Null(ModelName.Problem(new string('a', ModelName.MaxLength)));
        Assert.Equal("is 257 characters long, over the limit of 256", ModelName.Problem(new string('a', ModelName.MaxLength + 1)));
    }

    [Theory]
    [InlineData("gpt\u001b[31m", "has a control character U+001B at character 4")]
    [InlineData("gpt-4o\r\nINFO forged", "has a control character U+000D at character 7")]
    [InlineData("gpt\0", "has a control character U+0000 at character 4")]
    [InlineData("gpt 4o", "has whitespace U+0020 at character 4")]
    [InlineData("gpt\u00a04o", "has whitespace U+00A0 at character 4")]
    [InlineData("gpt\u2028", "has whitespace U+2028 at character 4")]
    [InlineData("gpt-\u202eo4", "has an invisible format character U+202E at character 5")]
    [InlineData("gpt\u200b4o", "has an invisible format character U+200B at character 4")]
    [InlineData("gpt\ue000", "has a private-use character U+E000 at character 4")]
    public void Invisible_and_control_characters_are_named_with_their_position(string model, string expected)
    {
        Assert.Equal(expected, ModelName.Problem(model));
        Assert.False(ModelName.IsValid(model));
    }

    [Fact]
    public void Unpaired_surrogates_are_named_with_their_position()
    {
        // Built here: attribute arguments with lone surrogates do not survive test discovery intact.
        Assert.Equal("has an unpaired surrogate U+D800 at character 4", ModelName.Problem("gpt" + '\ud800' + "x"));
        Assert.Equal("has an unpaired surrogate U+DC00 at character 4", ModelName.Problem("gpt" + '\udc00'));
        Assert.Equal("x\\uD800", ModelName.Preview("x" + '\ud800'));
    }

    [Fact]
    public void No_model_is_left_to_the_provider()
    {
        Assert.Null(ModelName.Validate(null));
        Assert.Null(ModelName.Validate(string.Empty));
        Assert.False(ModelName.IsValid(string.Empty));
    }

    [Fact]
    public void The_message_for_a_huge_name_quotes_only_its_start()
    {
        var model = new string('x', 5 * 1024 * 1024);

        var message = ModelName.Validate(model)!;

        Assert.Contains("is 5242880 characters long, over the limit of 256", message, StringComparison.Ordinal);
        Assert.Contains($"(starts \"{new string('x', ModelName.PreviewLength)}…\")", message, StringComparison.Ordinal);
        Assert.True(message.Length < 300, message);
    }

    [Theory]
    [InlineData("gpt\u001b[2J\r\n", "gpt\\u001B[2J\\u000D\\u000A")]
    [InlineData("a\\u001B", "a\\\\u001B")]
    [InlineData("gpt 4o\t", "gpt 4o\\u0009")]
    [InlineData("rocket-🚀", "rocket-🚀")]
    public void Preview_escapes_what_a_terminal_would_act_on(string value, string expected) =>
        Assert.Equal(expected, ModelName.Preview(value));

    [Fact]
    public void Preview_does_not_cut_a_surrogate_pair_in_half()
    {
        var value = new string('a', ModelName.PreviewLength - 1) + "🚀" + "tail";

        Assert.Equal(new string('a', ModelName.PreviewLength - 1) + "🚀…", ModelName.Preview(value));
    }
}
