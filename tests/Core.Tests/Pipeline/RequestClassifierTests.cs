using Microsoft.Extensions.Primitives;
using Tollgate.Core.Endpoints;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Pipeline;

public sealed class RequestClassifierTests
{
    private const string Tags = """{"team":"payments","repo":"checkout","pipeline":"pr-review"}""";
    private readonly RequestClassifier _classifier = new(new EndpointPolicy([]), new Dictionary<string, string>(), ["team", "repo", "pipeline"]);

    [Theory]
    [InlineData("/v1/messages", ApiDialect.AnthropicMessages, "anthropic")]
    [InlineData("/v1//chat/completions?x=1", ApiDialect.OpenAIChatCompletions, "openai")]
    [InlineData("/v1/foo/../embeddings", ApiDialect.OpenAIEmbeddings, "openai")]
    public void ClassifyPath_MeteredEndpoint_ReturnsTheCanonicalPathAndDialect(string target, ApiDialect dialect, string provider)
    {
        var classified = _classifier.ClassifyPath("POST", target, anthropicVersionSent: false);

        Assert.Null(classified.Refusal);
        Assert.Equal(dialect, classified.Value!.Endpoint.Dialect);
        Assert.Equal(provider, classified.Value.Endpoint.Provider);
        Assert.DoesNotContain("..", classified.Value.Path, StringComparison.Ordinal);
        Assert.DoesNotContain("?", classified.Value.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void ClassifyPath_UnknownEndpoint_IsRefusedWith403AndKeepsThePathForTheLog()
    {
        var classified = _classifier.ClassifyPath("POST", "/v1/files", anthropicVersionSent: false);

        Assert.Equal(403, classified.Refusal?.Status);
        Assert.Equal("endpoint_not_metered", classified.Refusal?.Type);
        Assert.Contains("--allow-unmetered '/v1/files'", classified.Refusal?.Message, StringComparison.Ordinal);
        Assert.Equal("/v1/files", classified.Value?.Path);
    }

    [Theory]
    [InlineData(false, "openai")]
    [InlineData(true, "anthropic")]
    public void ClassifyPath_AmbiguousPath_IsA400InTheShapeTheHeadersSuggest(bool anthropicVersionSent, string provider)
    {
        var classified = _classifier.ClassifyPath("POST", "/v1/%2e%2e/messages%2F", anthropicVersionSent);

        Assert.Equal(400, classified.Refusal?.Status);
        Assert.Equal("invalid_request", classified.Refusal?.Type);
        Assert.Equal(provider, classified.Refusal?.Provider);
        Assert.Null(classified.Value);
    }

    [Fact]
    public void ReadTags_HeaderOrItsAlias_GivesTheTags()
    {
        var primary = _classifier.ReadTags("openai", Tags, StringValues.Empty);
        var alias = _classifier.ReadTags("openai", StringValues.Empty, Tags);

        Assert.Equal("payments", primary.Value?["team"]);
        Assert.Equal("checkout", alias.Value?["repo"]);
    }

    [Fact]
    public void ReadTags_HeaderSentTwiceOrDisagreeingWithItsAlias_IsRefused()
    {
        var twice = _classifier.ReadTags("openai", new StringValues([Tags, Tags]), StringValues.Empty);
        var disagree = _classifier.ReadTags("openai", Tags, Tags.Replace("payments", "billing", StringComparison.Ordinal));

        Assert.Equal(400, twice.Refusal?.Status);
        Assert.Contains("once", twice.Refusal?.Message, StringComparison.Ordinal);
        Assert.Equal(400, disagree.Refusal?.Status);
        Assert.Contains("disagree", disagree.Refusal?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadTags_MissingRequiredKey_IsRefusedAsMissingMetadata()
    {
        var tagged = _classifier.ReadTags("anthropic", """{"team":"payments"}""", StringValues.Empty);

        Assert.Equal("missing_metadata", tagged.Refusal?.Type);
        Assert.Equal("anthropic", tagged.Refusal?.Provider);
        Assert.NotNull(tagged.Refusal?.Details);
    }

    [Theory]
    [InlineData("""{"model":"gpt 4o","messages":[]}""", "whitespace")]
    [InlineData("""{"model":"a","model":"b","messages":[]}""", "model")]
    public void ReadShape_BodyWithABadOrAmbiguousModel_IsRefused(string body, string mentions)
    {
        var shape = RequestClassifier.ReadShape(System.Text.Encoding.UTF8.GetBytes(body), ApiDialect.OpenAIChatCompletions);

        Assert.Equal(400, shape.Refusal?.Status);
        Assert.Equal("openai", shape.Refusal?.Provider);
        Assert.Contains(mentions, shape.Refusal?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadShape_ValidBody_GivesModelStreamAndOutputCap()
    {
        var shape = RequestClassifier.ReadShape("""{"model":"claude-haiku-4-5","stream":true,"max_tokens":64,"messages":[]}"""u8, ApiDialect.AnthropicMessages);

        Assert.Null(shape.Refusal);
        Assert.Equal("claude-haiku-4-5", shape.Value?.Model);
        Assert.True(shape.Value?.Stream);
        Assert.Equal(64, shape.Value?.MaxOutputTokens);
    }
}
