using Grpc.Core;
using Tollgate.Exporter.OpenCost.Protocol;

namespace Tollgate.Exporter.OpenCost;

/// <summary>
/// go-plugin's stdio stream. Nothing is sent on it: the plugin never writes to stdout after the handshake and its logs
/// already reach the host on stderr. Answering (rather than Unimplemented) keeps the host's log free of warnings; the
/// stream stays open until either side goes away.
/// </summary>
internal sealed class GoPluginStdioService(IHostApplicationLifetime lifetime) : GRPCStdio.GRPCStdioBase
{
    public override async Task StreamStdio(Google.Protobuf.WellKnownTypes.Empty request, IServerStreamWriter<StdioData> responseStream, ServerCallContext context)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await Task.Delay(Timeout.Infinite, either.Token);
        }
        catch (OperationCanceledException)
        {
            // The host hung up or the plugin is stopping: the stream ends normally.
        }
    }
}
