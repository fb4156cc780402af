using System.Text;
using Tollgate.Core.Estimation;

namespace Tollgate.Core.Tests.Estimation;

/// <summary>The output cap read from a request body: a non-negative Int64, or nothing (the meter's default applies).</summary>
public sealed class RequestShapeTests
{
    [Theory]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("9007199254740992", 9_007_199_254_740_992L)]
    [InlineData("4096", 4096L)]
    [InlineData("0", 0L)]
    [InlineData("-1", null)]
    [InlineData("-9223372036854775808", null)]
    [InlineData("9223372036854775808", null)]
    [InlineData("1e30", null)]
    [InlineData("1.5", null)]
    [InlineData("4096.0", null)]
    [InlineData("\"4096\"", null)]
    [InlineData("null", null)]
    [InlineData("true", null)]
    public void Max_tokens_is_a_non_negative_int64_or_absent(string json, long? expected)
    {
        foreach (var field in new[] { "max_tokens", "max_completion_tokens", "max_output_tokens" })
        {
            Assert.Equal(expected, Read($$"""{"model":"m","{{field}}":{{json}},"stream":true}""").MaxOutputTokens);
        }
    }

    [Fact]
    public void Largest_valid_cap_wins_and_an_invalid_one_does_not_lower_it()
    {
        Assert.Equal(2048, Read("""{"max_tokens":1024,"max_completion_tokens":-5,"max_output_tokens":2048}""").MaxOutputTokens);
        Assert.Equal(1024, Read("""{"max_tokens":1024,"max_completion_tokens":1e30}""").MaxOutputTokens);
    }

    [Fact]
    public void Cap_given_as_an_object_is_skipped_whole_and_its_fields_are_not_read_as_top_level()
    {
        var shape = Read("""{"max_tokens":{"model":"other","stream":true},"model":"claude-haiku-4-5"}""");

        Assert.Null(shape.MaxOutputTokens);
        Assert.Equal("claude-haiku-4-5", shape.Model);
        Assert.False(shape.Stream);
    }

    private static RequestShape Read(string json) => RequestShape.Read(Encoding.UTF8.GetBytes(json));
}
