using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Tollgate.TestSupport;

/// <summary>
/// HTTP/1.1 over a bare socket, for requests HttpClient would tidy up first: raw request targets (dot segments,
/// encoded slashes, backslashes, <c>;</c> parameters), repeated headers, odd methods. One request per connection.
/// </summary>
public static class RawHttp
{
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body);

    public static async Task<Response> SendAsync(Uri server, string method, string target, string? body = null,
        IEnumerable<(string Name, string Value)>? headers = null, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, cancellationToken);
        await using var stream = client.GetStream();
        var request = new StringBuilder();
        request.Append(CultureInfo.InvariantCulture, $"{method} {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers ?? [])
        {
            request.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        var content = body is null ? [] : Encoding.UTF8.GetBytes(body);
        if (body is not null)
        {
            request.Append("Content-Type: application/json\r\n");
            request.Append(CultureInfo.InvariantCulture, $"Content-Length: {content.Length}\r\n");
        }

        request.Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cancellationToken);
        await stream.WriteAsync(content, cancellationToken);

        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return Parse(buffer.ToArray());
    }

    private static Response Parse(byte[] raw)
    {
        var text = Encoding.UTF8.GetString(raw);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            throw new InvalidOperationException($"No complete HTTP response head in {raw.Length} bytes.");
        }

        var lines = text[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var body = text[(end + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new Response(status, headers, body);
    }

    private static string Dechunk(string chunked)
    {
        var result = new StringBuilder();
        var position = 0;
        while (position < chunked.Length)
        {
            var lineEnd = chunked.IndexOf("\r\n", position, StringComparison.Ordinal);
            var size = int.Parse(chunked[position..lineEnd].Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }

            // Sizes count bytes; the bodies here are ASCII JSON and SSE, so characters are bytes.
            result.Append(chunked, lineEnd + 2, size);
            position = lineEnd + 2 + size + 2;
        }

        return result.ToString();
    }
}
