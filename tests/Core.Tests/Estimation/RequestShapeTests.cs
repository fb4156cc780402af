using System.Text;
using Tollgate.Core.Estimation;

namespace Tollgate.Core.Tests.Estimation;

/// <summary>The output cap read from a request body: a non-negative Int64, or nothing (the meter's default applies); anything else is a 400.</summary>
public sealed class RequestShapeTests
{
    [Theory]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("9007199254740992", 9_007_199_254_740_992L)]
    [InlineData("4096", 4096L)]
    [InlineData("0", 0L)]
    [InlineData("null", null)]
    public void Max_tokens_is_a_non_negative_int64_or_absent(string json, long? expected)
    {
        foreach (var field in new[] { "max_tokens", "max_completion_tokens", "max_output_tokens" })
        {
            Assert.Equal(expected, Read($$"""{"model":"m","{{field}}":{{json}},"stream":true}""").MaxOutputTokens);
        }
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("-9223372036854775808")]
    [InlineData("9223372036854775808")]
    [InlineData("1e30")]
    [InlineData("1.5")]
    [InlineData("4096.0")]
    [InlineData("\"4096\"")]
    [InlineData("true")]
    [InlineData("""{"model":"other","stream":true}""")]
    public void Any_other_cap_is_refused_naming_the_field(string json)
    {
        foreach (var field in new[] { "max_tokens", "max_completion_tokens", "max_output_tokens" })
        {
            var error = Assert.Throws<RequestBodyException>(() => Read($$"""{"model":"m","{{field}}":{{json}},"stream":true}"""));
            Assert.Equal($"\"{field}\" must be a non-negative integer.", error.Message);
        }
    }

    [Fact]
    public void Largest_cap_wins()
    {
        Assert.Equal(2048, Read("""{"max_tokens":1024,"max_completion_tokens":0,"max_output_tokens":2048}""").MaxOutputTokens);
    }

    private static RequestShape Read(string json) => RequestShape.Read(Encoding.UTF8.GetBytes(json));
}
