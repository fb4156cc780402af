namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// A meter a test reaches over HTTP only, so the same test runs against the in-process host (<see cref="MeterHarness"/>)
/// or, with <c>TOLLGATE_METER_BINARY</c> set, against the natively published binary (<see cref="MeterProcessHarness"/>).
/// </summary>
public interface IMeterUnderTest : IAsyncDisposable
{
    Uri ProxyUri { get; }

    HttpClient Admin { get; }

    Task<HttpResponseMessage> SendAsync(HttpRequestMessage request);

    Task<MetricsScrape> ScrapeAsync();
}

/// <summary>Starts the meter the run asks for: the native binary when one is named, else the in-process host.</summary>
public static class MeterUnderTest
{
    /// <summary>As <see cref="MeterHarness.StartAsync"/>, limited to what the command line can say.</summary>
    public static async Task<IMeterUnderTest> StartAsync(
        FakeLlmUpstream upstream, string? policy = null, Func<MeterOptions, MeterOptions>? configure = null, string? directory = null) =>
        MeterProcess.NativeBinary is null
            ? await MeterHarness.StartAsync(upstream, policy, configure, directory)
            : await MeterProcessHarness.StartAsync(upstream, policy, configure, directory);
}
