using System.Text;
using System.Text.Json;

namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// Reads the assistant text out of a response in any of the three dialects, JSON or server-sent events (parsed by
/// the SSE rules: events separated by a blank line, payload in <c>data:</c> lines), independently of the meter's code.
/// </summary>
public static class SseOrJson
{
    public static string Text(string path, string body)
    {
        if (!body.StartsWith("event:", StringComparison.Ordinal) && !body.StartsWith("data:", StringComparison.Ordinal))
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            return path switch
            {
                "/v1/messages" => root.GetProperty("content")[0].GetProperty("text").GetString()!,
                "/v1/chat/completions" => root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!,
                _ => root.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString()!,
            };
        }

        var text = new StringBuilder();
        foreach (var data in Events(body))
        {
            if (data == "[DONE]")
            {
                continue;
            }

            using var json = JsonDocument.Parse(data);
            var root = json.RootElement;
            switch (path)
            {
                case "/v1/messages" when root.GetProperty("type").GetString() == "content_block_delta":
                    text.Append(root.GetProperty("delta").GetProperty("text").GetString());
                    break;
                case "/v1/chat/completions" when root.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var content):
                    text.Append(content.GetString());
                    break;
                case "/v1/responses" when root.GetProperty("type").GetString() == "response.output_text.delta":
                    text.Append(root.GetProperty("delta").GetString());
                    break;
            }
        }

        return text.ToString();
    }

    /// <summary>The data of every event, multi-line data joined with newlines.</summary>
    public static IEnumerable<string> Events(string stream)
    {
        foreach (var block in stream.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var data = block.Split('\n').Where(line => line.StartsWith("data:", StringComparison.Ordinal)).Select(line => line[5..].TrimStart(' ')).ToList();
            if (data.Count > 0)
            {
                yield return string.Join('\n', data);
            }
        }
    }
}
