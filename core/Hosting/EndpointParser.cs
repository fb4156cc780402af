using System.Globalization;
using System.Net;

namespace Tollgate.Core.Hosting;

/// <summary>Parses <c>host:port</c> as the <c>--listen</c> flags take it.</summary>
public static class EndpointParser
{
    public static bool TryParse(string value, out IPEndPoint endpoint, out string? error)
    {
        endpoint = new IPEndPoint(IPAddress.Loopback, 0);
        error = null;
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            error = $"expected host:port, e.g. 127.0.0.1:8787 (got \"{value}\")";
            return false;
        }

        var host = value[..colon].Trim('[', ']');
        if (!int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            error = $"the port must be a number from 0 to 65535 (got \"{value[(colon + 1)..]}\")";
            return false;
        }

        IPAddress? address = host switch
        {
            "localhost" => IPAddress.Loopback,
            "*" or "+" => IPAddress.Any,
            _ => IPAddress.TryParse(host, out var parsed) ? parsed : null,
        };
        if (address is null)
        {
            error = $"the host must be an IP address or localhost (got \"{host}\")";
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }
}
