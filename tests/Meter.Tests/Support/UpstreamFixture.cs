using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests.Support;

/// <summary>One fake provider per test class: a real Kestrel server on a loopback port speaking both wire formats.</summary>
public sealed class UpstreamFixture : IAsyncLifetime
{
    public FakeLlmUpstream Upstream { get; private set; } = null!;

    public async Task InitializeAsync() => Upstream = await FakeLlmUpstream.StartAsync();

    public async Task DisposeAsync() => await Upstream.DisposeAsync();
}
