using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using Tollgate.Core.Hosting;

namespace Tollgate.Operator.Webhooks;

/// <summary>Where the webhook listens. The API server reaches it through the webhook Service on this port.</summary>
public sealed class WebhookHostOptions
{
    public const string SectionName = "Tollgate:Webhook";

    public string ListenAddress { get; set; } = "0.0.0.0";

    public int Port { get; set; } = 9443;
}

/// <summary>
/// The pod webhook's own Kestrel server: HTTPS only, <c>POST /mutate-pods</c>, <c>GET /healthz</c> and, when given, the
/// meters' key broker (<c>POST /meter/v1/credentials</c>, see <see cref="KeyBroker.KeyBrokerEndpoint"/>). The
/// certificate is asked from <see cref="ServingCertificateSource"/> on every handshake, so a renewal needs no restart;
/// until there is one, handshakes fail and the API server falls back to the webhook's failurePolicy.
/// </summary>
public sealed class WebhookHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookHost(WebApplication app) => _app = app;

    /// <summary>The bound address, e.g. <c>https://127.0.0.1:9443/</c> (meaningful after <see cref="StartAsync"/>, also with port 0).</summary>
    public Uri BaseUri { get; private set; } = new("https://127.0.0.1/");

    public IServiceProvider Services => _app.Services;

    public static WebhookHost Create(
        WebhookHostOptions options,
        SidecarOptions sidecar,
        INamespaceLookup namespaces,
        ServingCertificateSource certificates,
        Action<ILoggingBuilder>? configureLogging = null,
        KeyBroker.KeyBrokerEndpoint? keyBroker = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(certificates);
        if (!IPAddress.TryParse(options.ListenAddress, out var address))
        {
            throw new ArgumentException($"ListenAddress: \"{options.ListenAddress}\" is not an IP address", nameof(options));
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(WebhookHost).Assembly.GetName().Name });
        if (configureLogging is null)
        {
            ProcessHost.UseConsole(builder.Logging, LogLevel.Information);
        }
        else
        {
            builder.Logging.ClearProviders();
            configureLogging(builder.Logging);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(address, options.Port, listen => listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificateSelector = (_, _) => certificates.Current?.Serving,
            }));
        });

        builder.Services.AddSingleton(Options.Create(sidecar));
        builder.Services.AddSingleton(namespaces);
        builder.Services.AddSingleton<SidecarInjector>();
        builder.Services.AddSingleton<AdmissionEndpoint>();

        var app = builder.Build();
        var endpoint = app.Services.GetRequiredService<AdmissionEndpoint>();
        app.MapPost(AdmissionEndpoint.Path, endpoint.HandleAsync);
        if (keyBroker is not null)
        {
            // Every method: the broker answers anything but POST with a JSON 405 of its own.
            app.Map(KeyBroker.KeyBrokerEndpoint.Path, keyBroker.HandleAsync);
        }

        app.MapGet("/healthz", (HttpContext context) => context.Response.WriteAsync("ok\n", context.RequestAborted));
        return new WebhookHost(app);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses?.FirstOrDefault() is { } bound)
        {
            // Kestrel reports a wildcard bind as https://[::]:port or https://0.0.0.0:port; callers want something to dial.
            var uri = new Uri(bound);
            var host = uri.Host is "0.0.0.0" or "[::]" ? "127.0.0.1" : uri.Host;
            BaseUri = new UriBuilder(uri) { Host = host, Path = "/" }.Uri;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
