using Grpc.Core;
using Tollgate.Exporter.OpenCost.Protocol;

namespace Tollgate.Exporter.OpenCost;

/// <summary>go-plugin's controller: the host's polite way to end the plugin before it falls back to killing it.</summary>
internal sealed class PluginControllerService(IHostApplicationLifetime lifetime) : GRPCController.GRPCControllerBase
{
    public override Task<Empty> Shutdown(Empty request, ServerCallContext context)
    {
        // Stopping after the reply leaves, so the host sees the call succeed rather than a reset connection.
        context.GetHttpContext().Response.OnCompleted(() =>
        {
            lifetime.StopApplication();
            return Task.CompletedTask;
        });
        return Task.FromResult(new Empty());
    }
}
