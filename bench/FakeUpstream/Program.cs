using System.Globalization;
using System.Runtime.InteropServices;
using Tollgate.TestSupport;

// Standalone fake upstream for benchmarks: dotnet run --project bench/FakeUpstream -- --port 9000
var port = 9000;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--port" && i + 1 < args.Length
        && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= 65535)
    {
        i++;
        continue;
    }

    await Console.Error.WriteLineAsync("usage: Tollgate.FakeUpstream [--port N]   (default 9000)");
    return 2;
}

var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

await using var upstream = await FakeLlmUpstream.StartAsync(port);

// Recording would make the fake allocate per request and skew the proxy's measured overhead.
upstream.RecordRequests = false;
Console.WriteLine($"listening on {upstream.BaseUri.GetLeftPart(UriPartial.Authority)}");
await stopped.Task;
return 0;

void Stop(PosixSignalContext context)
{
    // Shut down through DisposeAsync instead of letting the runtime kill the process mid-response.
    context.Cancel = true;
    stopped.TrySetResult();
}
