using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tollgate.Core.Security;

namespace Tollgate.TestSupport;

/// <summary>
/// Redis as a job container could reach it: a bare socket speaking RESP over TLS, no client library, so what the
/// server answers (NOAUTH, WRONGPASS, NOPERM) is seen as it is sent.
/// </summary>
public static class RawRedis
{
    /// <summary>
    /// One command over TLS to <paramref name="endPoint"/>, the server verified as <paramref name="host"/> against
    /// <paramref name="caBundlePem"/> alone; AUTH first when a user is given. Returns the first line of the answer.
    /// </summary>
    public static async Task<string> TlsCommandAsync(IPEndPoint endPoint, string host, string caBundlePem, string? user, string? password, params string[] command)
    {
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPem(caBundlePem);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endPoint);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false,
            (_, certificate, chain, errors) => CertificateBundle.PinsServer(trusted, certificate, chain, errors));
        await tls.AuthenticateAsClientAsync(host);
        using var reader = new StreamReader(tls, Encoding.UTF8, leaveOpen: true);
        if (user is not null)
        {
            await tls.WriteAsync(Resp("AUTH", user, password ?? string.Empty));
            var auth = await reader.ReadLineAsync();
            if (auth != "+OK")
            {
                return auth ?? string.Empty;
            }
        }

        await tls.WriteAsync(Resp(command));
        return await reader.ReadLineAsync() ?? string.Empty;
    }

    /// <summary>A command as a RESP array of bulk strings.</summary>
    public static byte[] Resp(params string[] parts)
    {
        var text = new StringBuilder().Append('*').Append(parts.Length).Append("\r\n");
        foreach (var part in parts)
        {
            text.Append('$').Append(Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
