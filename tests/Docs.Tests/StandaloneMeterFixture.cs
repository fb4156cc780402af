using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>
/// The README's first command, <c>dotnet run --project meter -- --policy config/samples</c>, running in a fresh workspace
/// in front of the strict fake provider. Added to what the README shows: free ports instead of 8787/9464 (other test runs
/// share this machine; the defaults are checked against <c>--help</c> by the command-line test) and <c>--upstream</c>
/// pointing both providers at the fake, with the fake's keys in TOLLGATE_*_API_KEY as production sets real ones.
/// </summary>
public sealed class StandaloneMeterFixture : IAsyncLifetime
{
    public const string Heading = "# Tollgate";
    public const string Command = "dotnet run --project meter -- --policy config/samples";

    private ShellProcess? _meter;

    public Workspace Workspace { get; } = new();

    public FakeLlmUpstream Upstream { get; private set; } = null!;

    public Uri Proxy { get; private set; } = null!;

    public Uri Admin { get; private set; } = null!;

    public ShellProcess Meter => _meter!;

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Upstream = await FakeLlmUpstream.StartAsync();
        var block = Repo.Block("README.md", Heading, Command);
        string proxy = Llm.FreeEndpoint(), admin = Llm.FreeEndpoint();
        Proxy = new Uri($"http://{proxy}");
        Admin = new Uri($"http://{admin}");
        var command = new ShellCommand(block.Commands[0]).Append(["--listen", proxy, "--admin-listen", admin, .. Llm.UpstreamArguments(Upstream)]);
        _meter = ShellProcess.Start(command, Workspace.Path, Llm.MeterKeys);
        await _meter.WaitUntilOkAsync(new Uri(Admin, "/readyz"));
        Client = new HttpClient { BaseAddress = Proxy };
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_meter is not null)
        {
            await _meter.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        Workspace.Dispose();
    }
}
