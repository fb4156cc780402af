using System.Net;
using StackExchange.Redis.Configuration;

namespace Tollgate.Core.Redis;

/// <summary>Opens every socket to one endpoint, whatever the logical endpoint's name (<see cref="RedisLedgerOptions.ConnectTo"/>).</summary>
internal sealed class ConnectToTunnel(EndPoint connectTo) : Tunnel
{
    public override ValueTask<EndPoint?> GetSocketConnectEndpointAsync(EndPoint endpoint, CancellationToken cancellationToken) =>
        ValueTask.FromResult<EndPoint?>(connectTo);
}
