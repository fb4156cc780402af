using System.Globalization;
using System.Text;

namespace Tollgate.Docs.Tests.Running;

/// <summary>Provider requests as an SDK sends them to the meter, and the environment that gives the meter the fake's keys.</summary>
public static class Llm
{
    /// <summary>The meter's provider keys as production sets them: here the keys the strict fake provider issued.</summary>
    public static IReadOnlyDictionary<string, string> MeterKeys { get; } = new Dictionary<string, string>
    {
        ["TOLLGATE_ANTHROPIC_API_KEY"] = FakeUpstreamOptions.DefaultAnthropicKey,
        ["TOLLGATE_OPENAI_API_KEY"] = FakeUpstreamOptions.DefaultOpenAiKey,
    };

    /// <summary>The meter's arguments pointing both providers at the fake instead of api.anthropic.com / api.openai.com.</summary>
    public static string[] UpstreamArguments(FakeLlmUpstream fake) =>
        ["--upstream", $"anthropic={fake.BaseUri}", "--upstream", $"openai={fake.BaseUri}"];

    public static string Tags(string team, string repo, string pipeline, string? agentStep = null) =>
        agentStep is null
            ? $$"""{"team":"{{team}}","repo":"{{repo}}","pipeline":"{{pipeline}}"}"""
            : $$"""{"team":"{{team}}","repo":"{{repo}}","pipeline":"{{pipeline}}","agent_step":"{{agentStep}}"}""";

    public static HttpRequestMessage Messages(string? tags, string model = "claude-sonnet-4-5", string? fakeUsage = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent(
                $$"""{"model":"{{model}}","max_tokens":64,"messages":[{"role":"user","content":"review this diff"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        Add(request, tags, fakeUsage);
        return request;
    }

    public static HttpRequestMessage ChatCompletions(string? tags, string model, string? fakeUsage = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"model":"{{model}}","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        Add(request, tags, fakeUsage);
        return request;
    }

    /// <summary>A free loopback port for a listener the README leaves at its default (fixed ports collide on a shared machine).</summary>
    public static string FreeEndpoint() => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{LocalMachine.FreeLoopbackPort()}");

    private static void Add(HttpRequestMessage request, string? tags, string? fakeUsage)
    {
        if (tags is not null)
        {
            request.Headers.Add("X-Tollgate-Metadata", tags);
        }

        if (fakeUsage is not null)
        {
            request.Headers.Add("x-fake-usage", fakeUsage);
        }
    }
}
