using Tollgate.Core.Endpoints;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Endpoints;

public sealed class EndpointPolicyTests
{
    private static readonly EndpointPolicy Policy = new(["/v1/files*", "/v1/batches"]);

    [Theory]
    [InlineData("POST", "/v1/messages", false, EndpointKind.Metered, ApiDialect.AnthropicMessages, "anthropic")]
    [InlineData("POST", "/v1/chat/completions", false, EndpointKind.Metered, ApiDialect.OpenAIChatCompletions, "openai")]
    [InlineData("POST", "/v1/completions", false, EndpointKind.Metered, ApiDialect.OpenAICompletions, "openai")]
    [InlineData("POST", "/v1/responses", false, EndpointKind.Metered, ApiDialect.OpenAIResponses, "openai")]
    [InlineData("POST", "/v1/embeddings", false, EndpointKind.Metered, ApiDialect.OpenAIEmbeddings, "openai")]
    [InlineData("post", "/v1/messages", true, EndpointKind.Metered, ApiDialect.AnthropicMessages, "anthropic")]
    [InlineData("POST", "/v1/messages/count_tokens", true, EndpointKind.Free, ApiDialect.AnthropicCountTokens, "anthropic")]
    [InlineData("POST", "/v1/moderations", false, EndpointKind.Free, ApiDialect.Passthrough, "openai")]
    [InlineData("GET", "/v1/models", false, EndpointKind.Free, ApiDialect.Passthrough, "openai")]
    [InlineData("GET", "/v1/models", true, EndpointKind.Free, ApiDialect.Passthrough, "anthropic")]
    [InlineData("GET", "/v1/models/claude-sonnet-4-5", true, EndpointKind.Free, ApiDialect.Passthrough, "anthropic")]
    [InlineData("GET", "/v1/models/ft:gpt-4o:acme:x", false, EndpointKind.Free, ApiDialect.Passthrough, "openai")]
    [InlineData("GET", "/v1/models/a/b", false, EndpointKind.Refused, ApiDialect.Passthrough, "openai")]
    [InlineData("DELETE", "/v1/models/ft:gpt-4o:acme:x", false, EndpointKind.Refused, ApiDialect.Passthrough, "openai")]
    [InlineData("POST", "/v1/files", false, EndpointKind.Unmetered, ApiDialect.Passthrough, "openai")]
    [InlineData("GET", "/v1/files/file-1/content", false, EndpointKind.Unmetered, ApiDialect.Passthrough, "openai")]
    [InlineData("POST", "/v1/batches", false, EndpointKind.Unmetered, ApiDialect.Passthrough, "openai")]
    [InlineData("POST", "/v1/batches/b1/cancel", false, EndpointKind.Refused, ApiDialect.Passthrough, "openai")]
    [InlineData("POST", "/v1/messages/batches", true, EndpointKind.Refused, ApiDialect.Passthrough, "anthropic")]
    [InlineData("GET", "/v1/messages", true, EndpointKind.Refused, ApiDialect.Passthrough, "anthropic")]
    [InlineData("GET", "/v1/chat/completions", false, EndpointKind.Refused, ApiDialect.Passthrough, "openai")]
    [InlineData("POST", "/v1/images/generations", false, EndpointKind.Refused, ApiDialect.Passthrough, "openai")]
    [InlineData("POST", "/V1/MESSAGES", true, EndpointKind.Refused, ApiDialect.Passthrough, "anthropic")]
    public void Every_endpoint_is_metered_free_allowed_or_refused(string method, string path, bool anthropicVersion, EndpointKind kind, ApiDialect dialect, string provider)
    {
        Assert.Equal(new EndpointDecision(kind, dialect, provider), Policy.Classify(method, path, anthropicVersion));
    }

    [Fact]
    public void An_allow_list_cannot_turn_a_metered_endpoint_unmetered()
    {
        var everything = new EndpointPolicy(["*"]);
        Assert.Equal(EndpointKind.Metered, everything.Classify("POST", "/v1/chat/completions", false).Kind);
        Assert.Equal(EndpointKind.Unmetered, everything.Classify("POST", "/v1/images/generations", false).Kind);
    }
}
