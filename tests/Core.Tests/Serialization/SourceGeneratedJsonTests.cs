using System.Text.Json.Nodes;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Serialization;

namespace Tollgate.Core.Tests.Serialization;

public sealed class SourceGeneratedJsonTests
{
    public static TheoryData<string> Contexts => ["policy", "pricing"];

    [Theory]
    [MemberData(nameof(Contexts))]
    public void Options_MatchModelJsonStrict(string context)
    {
        // The source-generated contexts fix their options at compile time; the operator still reads with ModelJson.Strict.
        var generated = context == "policy" ? PolicyJsonContext.Default.Options : PricingJsonContext.Default.Options;
        var strict = ModelJson.Strict;

        Assert.Equal(strict.UnmappedMemberHandling, generated.UnmappedMemberHandling);
        Assert.Equal(strict.NumberHandling, generated.NumberHandling);
        Assert.Equal(strict.DefaultIgnoreCondition, generated.DefaultIgnoreCondition);
        Assert.Equal(strict.PropertyNameCaseInsensitive, generated.PropertyNameCaseInsensitive);
        Assert.Same(strict.PropertyNamingPolicy, generated.PropertyNamingPolicy);
        Assert.Equal(strict.AllowTrailingCommas, generated.AllowTrailingCommas);
        Assert.Equal(strict.ReadCommentHandling, generated.ReadCommentHandling);
    }

    [Fact]
    public void Of_WritesTheBytesTheReflectionSerializerWrote()
    {
        var node = JsonNode.Parse("""{"model":"claude-\u00e9<b>","stream_options":{"include_usage":true},"n":[1,2.5,null]}""")!;

        var bytes = JsonNodeBytes.Of(node);

        Assert.Equal("""{"model":"claude-\u00E9\u003Cb\u003E","stream_options":{"include_usage":true},"n":[1,2.5,null]}""", System.Text.Encoding.UTF8.GetString(bytes));
        Assert.Equal(node.ToJsonString(), System.Text.Encoding.UTF8.GetString(bytes));
    }
}
