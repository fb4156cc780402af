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

// As strict as in the tests (Host, key in the provider's form, anthropic-version), so a benchmark run through a
// meter that mangles any of them shows up as non-2xx responses. The key is the one stream.lua and nonstream.lua send;
// run.sh gives the meter no key of its own, so the same key reaches the fake on both paths.
const string BenchKey = "bench-key";
await using var upstream = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Port = port, AnthropicKeys = [BenchKey], OpenAiKeys = [BenchKey] });

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
