using Tollgate.Core.Tagging;

namespace Tollgate.Core.Tests.Tagging;

/// <summary>The tag rules the meter applies to its header and every reader applies to usage events.</summary>
public sealed class RequestTagsRulesTests
{
    [Theory]
    [InlineData("payments", null)]
    [InlineData("pay\U0001F600", null)]
    [InlineData("", RequestTags.BlankValue)]
    [InlineData("   ", RequestTags.BlankValue)]
    [InlineData("a\u001b[2J", "holds control characters")]
    [InlineData("a\u2028b", "holds control characters")]
    public void A_value_is_judged_by_one_rule(string value, string? problem) =>
        Assert.Equal(problem, RequestTags.ValueProblem(value));

    [Fact]
    public void A_value_longer_than_256_characters_is_refused()
    {
        Assert.Null(RequestTags.ValueProblem(new string('x', RequestTags.MaxValueLength)));
        Assert.Equal("is longer than 256 characters", RequestTags.ValueProblem(new string('x', RequestTags.MaxValueLength + 1)));
    }

    [Theory]
    [InlineData("team", true)]
    [InlineData("", false)]
    [InlineData("t\neam", false)]
    public void A_key_is_judged_by_one_rule(string key, bool acceptable) =>
        Assert.Equal(acceptable, RequestTags.KeyProblem(key) is null);

    [Fact]
    public void Unpaired_surrogates_are_refused_in_keys_and_values()
    {
        // Built in code: test data with a lone surrogate does not survive xunit's serialization.
        string[] hostile = ["a" + '\ud800', '\udc00' + "a", "x" + '\ud83d' + '\ud83d'];
        foreach (var text in hostile)
        {
            Assert.Equal("holds control characters", RequestTags.ValueProblem(text));
            Assert.NotNull(RequestTags.KeyProblem(text));
        }
    }

    [Fact]
    public void A_header_tag_with_an_unpaired_surrogate_is_refused_with_a_message()
    {
        var result = RequestTags.Parse("{\"team\":\"\\ud800\"}", RequestTags.HeaderName, new Dictionary<string, string>(), []);

        Assert.Null(result.Tags);
        Assert.Contains("unpaired surrogate", result.Error, StringComparison.Ordinal);
    }
}
