using System.Buffers;
using System.Text;
using System.Text.Json;
using Tollgate.Core.Caching;

namespace Tollgate.Core.Tests.Caching;

public sealed class ResponseCacheKeyTests
{
    private const string OpenAI = "openai";
    private const string Chat = "/v1/chat/completions";

    private const string Request = """
        {"model":"gpt-4o-mini","temperature":0.2,"stream":false,
         "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}
        """;

    private static ResponseCacheKey Key(string body, string provider = OpenAI, string path = Chat, string scope = "payments") =>
        ResponseCacheKey.Compute(Encoding.UTF8.GetBytes(body), provider, path, scope);

    private static string Canonical(string json, string? omit = null)
    {
        var output = new ArrayBufferWriter<byte>();
        CanonicalJson.Write(Encoding.UTF8.GetBytes(json), output, omit);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Fact]
    public void The_key_is_a_sha256_in_lowercase_hex_and_stable()
    {
        var key = Key(Request);

        Assert.Equal(64, key.Hash.Length);
        Assert.Matches("^[0-9a-f]{64}$", key.Hash);
        Assert.Equal(key, Key(Request));
        Assert.Equal(key.Hash, key.ToString());
    }

    [Fact]
    public void Property_order_and_whitespace_do_not_change_the_key()
    {
        const string Reordered = """
            {
              "messages": [ { "content": "Be brief.", "role": "system" }, { "content": "Hi", "role": "user" } ],
              "stream": false,
              "temperature": 0.2,
              "model": "gpt-4o-mini"
            }
            """;

        Assert.Equal(Key(Request), Key(Reordered));
    }

    [Fact]
    public void Nested_objects_are_sorted_at_every_level()
    {
        const string A = """{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"number"}}}}}]}""";
        const string B = """{"tools":[{"function":{"parameters":{"properties":{"a":{"type":"number"},"b":{"type":"string"}},"type":"object"},"name":"f"},"type":"function"}]}""";

        Assert.Equal(Key(A), Key(B));
        Assert.Equal(
            """{"tools":[{"function":{"name":"f","parameters":{"properties":{"a":{"type":"number"},"b":{"type":"string"}},"type":"object"}},"type":"function"}]}""",
            Canonical(A));
    }

    [Fact]
    public void The_canonical_form_sorts_ordinally_strips_whitespace_and_keeps_raw_numbers()
    {
        const string Messy = "{ \"b\" : [ 3, 1.50, -0, 2e10 ], \"B\": true, \"a\":null,\n\t\"é\": { \"z\": 1, \"_\": \"x\" } }";

        // Ordinal: "B" (0x42) < "_" (0x5F) < "a" < "b" < "é" (0xE9).
        Assert.Equal("""{"B":true,"a":null,"b":[3,1.50,-0,2e10],"é":{"_":"x","z":1}}""", Canonical(Messy));
    }

    [Fact]
    public void Strings_escaped_differently_give_the_same_key()
    {
        Assert.Equal(Key("""{"content":"A/é\n"}"""), Key("""{"content":"\u0041\/\u00e9\u000A"}"""));
        Assert.Equal(Key("""{"content":"x"}"""), Key("""{"\u0063ontent":"x"}"""));
        Assert.Equal("{\"content\":\"A/é\\n\\\"\"}", Canonical("""{"content":"\u0041\/\u00E9\n\u0022"}"""));
    }

    [Fact]
    public void Numbers_are_compared_as_written()
    {
        Assert.NotEqual(Key("""{"temperature":1}"""), Key("""{"temperature":1.0}"""));
    }

    [Fact]
    public void A_different_value_gives_a_different_key()
    {
        Assert.NotEqual(Key(Request), Key(Request.Replace("\"temperature\":0.2", "\"temperature\":0.3", StringComparison.Ordinal)));
        Assert.NotEqual(Key(Request), Key(Request.Replace("\"Hi\"", "\"Hi!\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_different_model_gives_a_different_key()
    {
        Assert.NotEqual(Key(Request), Key(Request.Replace("gpt-4o-mini", "gpt-4o", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_stream_flag_is_part_of_the_key()
    {
        Assert.NotEqual(Key(Request), Key(Request.Replace("\"stream\":false", "\"stream\":true", StringComparison.Ordinal)));
        Assert.NotEqual(Key(Request), Key(Request.Replace("\"stream\":false,", string.Empty, StringComparison.Ordinal)));
    }

    [Fact]
    public void Adding_a_field_changes_the_key()
    {
        Assert.NotEqual(Key("""{"model":"m"}"""), Key("""{"model":"m","seed":1}"""));
    }

    [Fact]
    public void Array_order_matters()
    {
        Assert.NotEqual(
            Key("""{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"""),
            Key("""{"messages":[{"role":"user","content":"b"},{"role":"user","content":"a"}]}"""));
    }

    [Fact]
    public void Entries_of_one_team_are_never_keyed_like_another()
    {
        Assert.NotEqual(Key(Request, scope: "payments"), Key(Request, scope: "search"));
        Assert.NotEqual(Key(Request, scope: ""), Key(Request, scope: "payments"));
    }

    [Fact]
    public void Provider_and_path_are_part_of_the_key()
    {
        Assert.NotEqual(Key(Request, provider: "openai"), Key(Request, provider: "anthropic"));
        Assert.NotEqual(Key(Request, path: "/v1/chat/completions"), Key(Request, path: "/v1/responses"));
    }

    [Fact]
    public void Field_boundaries_cannot_be_shifted_between_provider_path_and_scope()
    {
        // Without length prefixes each pair would hash the same concatenation.
        Assert.NotEqual(Key(Request, provider: "ab", path: "c"), Key(Request, provider: "a", path: "bc"));
        Assert.NotEqual(Key(Request, path: "/v1/x", scope: "team"), Key(Request, path: "/v1/xt", scope: "eam"));
        Assert.NotEqual(Key("{}", scope: "a"), Key("{}", scope: "a{}"));
    }

    [Fact]
    public void Stream_options_do_not_change_the_key()
    {
        const string Plain = """{"model":"gpt-4o-mini","stream":true,"messages":[]}""";
        const string WithUsage = """{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}""";
        const string WithoutUsage = """{"stream_options":{"include_usage":false},"model":"gpt-4o-mini","stream":true,"messages":[]}""";

        Assert.Equal(Key(Plain), Key(WithUsage));
        Assert.Equal(Key(Plain), Key(WithoutUsage));
    }

    [Fact]
    public void Only_the_top_level_stream_options_is_ignored()
    {
        Assert.NotEqual(
            Key("""{"metadata":{"stream_options":"a"}}"""),
            Key("""{"metadata":{"stream_options":"b"}}"""));
        Assert.Equal("""{"metadata":{"stream_options":1}}""", Canonical("""{"stream_options":{},"metadata":{"stream_options":1}}""", "stream_options"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{\"model\":")]
    [InlineData("{\"model\":\"m\"} trailing")]
    [InlineData("{\"model\":\"m\"}{}")]
    [InlineData("{'model':'m'}")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{\"a\":1 /* comment */}")]
    [InlineData("{\"content\":\"\\ud800\"}")]
    [InlineData("{\"\\udc00\":1}")]
    public void A_body_that_is_not_well_formed_json_throws_JsonException(string body)
    {
        Assert.ThrowsAny<JsonException>(() => Key(body));
    }

    [Fact]
    public void Trailing_whitespace_is_not_an_error()
    {
        Assert.Equal(Key("{\"a\":1}"), Key("{\"a\":1}\r\n  "));
    }

    [Fact]
    public void Deeply_nested_schemas_are_accepted()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"a\":", 200)) + "1" + new string('}', 200);

        Assert.Equal(Key(deep), Key(deep.Replace("{\"a\":", "{ \"a\" : ", StringComparison.Ordinal)));
    }
}
