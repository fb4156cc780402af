using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Tollgate.Monitoring.Tests;

/// <summary>
/// One alert of one notification Alertmanager delivered: which receiver integration got it (the URL path the test
/// config gives each one), the alert's status and labels, and when it arrived.
/// </summary>
internal sealed record ReceivedAlert(int Notification, DateTimeOffset ReceivedAt, string Integration, string Receiver, string Status, IReadOnlyDictionary<string, string> Labels)
{
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : string.Empty;

    public override string ToString() =>
        $"#{Notification} {ReceivedAt:HH:mm:ss.fff} {Integration} {Status} "
        + "{" + string.Join(", ", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "}";
}

/// <summary>
/// A webhook endpoint on loopback (real Kestrel) standing in for Slack, mail and the generic webhook: it records every
/// alert of every notification Alertmanager posts (Alertmanager's webhook payload, version 4).
/// </summary>
internal sealed class AlertWebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ReceivedAlert> _alerts = [];
    private readonly List<string> _malformed = [];
    private readonly Lock _gate = new();
    private int _notifications;

    private AlertWebhookReceiver(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The origin, for example <c>http://127.0.0.1:41234/</c>; integrations post to <c>/alerts/&lt;name&gt;</c>.</summary>
    public Uri BaseUri { get; private set; } = null!;

    public IReadOnlyList<ReceivedAlert> Alerts
    {
        get
        {
            lock (_gate)
            {
                return [.. _alerts];
            }
        }
    }

    /// <summary>Posts that were not a webhook payload (should stay empty).</summary>
    public IReadOnlyList<string> Malformed
    {
        get
        {
            lock (_gate)
            {
                return [.. _malformed];
            }
        }
    }

    public static async Task<AlertWebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var receiver = new AlertWebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        try
        {
            await app.StartAsync();
            var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>();
            receiver.BaseUri = new Uri(addresses.Addresses.First());
            return receiver;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>The URL one integration of one receiver posts to.</summary>
    public Uri UrlFor(string integration) => new(BaseUri, "alerts/" + integration);

    public async ValueTask DisposeAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(deadline.Token);
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var receivedAt = DateTimeOffset.UtcNow;
        var path = context.Request.Path.Value ?? string.Empty;
        if (context.Request.Method != HttpMethods.Post || !path.StartsWith("/alerts/", StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var integration = path["/alerts/".Length..];
        try
        {
            using var payload = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            var root = payload.RootElement;
            var receiver = root.GetProperty("receiver").GetString() ?? string.Empty;
            lock (_gate)
            {
                var notification = ++_notifications;
                foreach (var alert in root.GetProperty("alerts").EnumerateArray())
                {
                    var labels = alert.GetProperty("labels").EnumerateObject()
                        .ToDictionary(p => p.Name, p => p.Value.GetString() ?? string.Empty, StringComparer.Ordinal);
                    _alerts.Add(new ReceivedAlert(notification, receivedAt, integration, receiver, alert.GetProperty("status").GetString() ?? string.Empty, labels));
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            lock (_gate)
            {
                _malformed.Add($"{integration}: {e.Message}");
            }

            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
    }
}
