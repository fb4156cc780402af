using Tollgate.Core.Endpoints;

namespace Tollgate.Core.Tests.Endpoints;

public sealed class CanonicalPathTests
{
    [Theory]
    [InlineData("/v1/messages", "/v1/messages")]
    [InlineData("/v1/messages/", "/v1/messages")]
    [InlineData("/v1//messages", "/v1/messages")]
    [InlineData("/v1/./messages", "/v1/messages")]
    [InlineData("/v1/x/../messages", "/v1/messages")]
    [InlineData("/v1/messages;jsessionid=1", "/v1/messages")]
    [InlineData("/v1;a/messages;b/", "/v1/messages")]
    [InlineData("/v1/%6Dessages", "/v1/messages")]
    [InlineData("/v1/%2e/messages", "/v1/messages")]
    [InlineData("/v1/%2E%2E/v1/messages", "/v1/messages")]
    [InlineData("/v1/models/ft:gpt-4o:org:abc", "/v1/models/ft:gpt-4o:org:abc")]
    [InlineData("/v1/models/ft%3Agpt-4o", "/v1/models/ft:gpt-4o")]
    [InlineData("/v1/caf%C3%A9", "/v1/café")]
    [InlineData("/", "/")]
    public void Equivalent_spellings_canonicalise_to_one_path(string raw, string expected)
    {
        Assert.True(CanonicalPath.TryCanonicalize(raw, out var path, out var error), error);
        Assert.Equal(expected, path);
    }

    [Theory]
    [InlineData("/v1/chat%2Fcompletions", "%2F")]
    [InlineData("/v1/chat%2fcompletions", "%2f")]
    [InlineData("/v1/chat%5Ccompletions", "%5C")]
    [InlineData("/v1/chat\\completions", "backslash")]
    [InlineData("/v1/messages%00", "%00")]
    [InlineData("/v1/messages%0A", "%0A")]
    [InlineData("/v1/messages%3Bx", "%3B")]
    [InlineData("/v1/messages%3F", "%3F")]
    [InlineData("/v1/messages%23", "%23")]
    [InlineData("/v1/%zz", "malformed")]
    [InlineData("/v1/%4", "malformed")]
    [InlineData("/v1/%C3", "UTF-8")]
    [InlineData("/..", "above the root")]
    [InlineData("/v1/../../messages", "above the root")]
    [InlineData("v1/messages", "absolute path")]
    [InlineData("http://api.openai.com/v1/chat/completions", "absolute path")]
    [InlineData("", "absolute path")]
    public void Ambiguous_or_malformed_paths_are_refused_with_a_reason(string raw, string reason)
    {
        Assert.False(CanonicalPath.TryCanonicalize(raw, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlong_path_is_refused_without_decoding_it()
    {
        Assert.False(CanonicalPath.TryCanonicalize("/" + new string('a', CanonicalPath.MaxLength), out _, out var error));
        Assert.Contains("longer than", error, StringComparison.Ordinal);
    }
}
