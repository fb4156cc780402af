using System.Globalization;
using System.Net;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging.Console;
using Tollgate.Core.Events;
using Tollgate.Core.Hosting;
using Tollgate.Core.Redis;

namespace Tollgate.Exporter.OpenCost;

/// <summary>
/// <c>exporter opencost-plugin &lt;config.json&gt;</c>: the exporter as an OpenCost custom-cost plugin, served the way
/// HashiCorp go-plugin expects (OpenCost launches its plugins with it): magic cookie check, a gRPC server on a loopback
/// port, the handshake line on stdout, then requests until the host lets go.
/// </summary>
internal static partial class OpenCostPlugin
{
    /// <summary>go-plugin's magic cookie: OpenCost sets <c>PLUGIN_NAME</c> to the plugin's name when it launches it.</summary>
    public const string MagicCookieKey = "PLUGIN_NAME";
    public const string MagicCookieValue = "tollgate";

    /// <summary>The name go-plugin's health check asks about.</summary>
    public const string HealthServiceName = "plugin";

    /// <summary>What every go-plugin plugin prints when started by hand (cookie missing or wrong), word for word.</summary>
    public const string NotForDirectUse =
        "This binary is a plugin. These are not meant to be executed directly.\n" +
        "Please execute the program that consumes these plugins, which will\n" +
        "load any plugins automatically\n";

    /// <summary>go-plugin's core protocol version 1, our application protocol version 1, the address, gRPC as the transport.</summary>
    public static string Handshake(int port) => string.Create(CultureInfo.InvariantCulture, $"1|1|tcp|127.0.0.1:{port}|grpc");

    public static async Task<int> RunAsync(string configPath, TextWriter stdout, TextWriter stderr)
    {
        if (!string.Equals(Environment.GetEnvironmentVariable(MagicCookieKey), MagicCookieValue, StringComparison.Ordinal))
        {
            await stderr.WriteAsync(NotForDirectUse);
            return 1;
        }

        OpenCostPluginConfig config;
        try
        {
            config = OpenCostPluginConfig.Load(configPath);
        }
        catch (InvalidDataException ex)
        {
            await stderr.WriteLineAsync($"tollgate-exporter opencost-plugin: {ex.Message}");
            return 1;
        }

        var time = TimeProvider.System;
        // The plugin's one Redis connection; it reads only the usage stream.
        var redis = await RedisConnection.ConnectAsync(config.LedgerSettings.ToOptions(RedisLedgerAccess.Read), time, CancellationToken.None);
        await using (redis)
        {
            var app = Build(config, redis, time);
            await using (app)
            {
                await app.StartAsync();
                var health = app.Services.GetRequiredService<HealthServiceImpl>();
                health.SetStatus(HealthServiceName, HealthCheckResponse.Types.ServingStatus.Serving);
                health.SetStatus(string.Empty, HealthCheckResponse.Types.ServingStatus.Serving);

                var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
                // The host reads exactly one line from stdout before it connects; nothing else may come first.
                await stdout.WriteLineAsync(Handshake(port));
                await stdout.FlushAsync();
                Serving(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OpenCostPlugin)), port, redis.Options.Address.ToString());

                var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
                if (StdinIsPipe())
                {
                    _ = Task.Run(() => StopWhenStdinClosesAsync(lifetime));
                }

                // SIGTERM and SIGINT stop the host through its console lifetime.
                await app.WaitForShutdownAsync();
            }
        }

        return 0;
    }

    private static WebApplication Build(OpenCostPluginConfig config, RedisConnection redis, TimeProvider time)
    {
        var builder = ProcessHost.CreateBuilder(typeof(OpenCostPlugin).Assembly, LogLevel.Information);
        // stdout belongs to the handshake; go-plugin forwards the plugin's stderr into the host's log.
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // go-plugin dials gRPC over plain TCP: HTTP/2 with prior knowledge, no TLS, loopback only.
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
        });

        var services = builder.Services;
        // go-plugin kills a plugin that has not exited two seconds after Shutdown; lingering calls must not hold it longer.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        services.AddGrpc();
        services.AddSingleton(config);
        services.AddSingleton(time);
        services.AddSingleton(RedisUsageStream.Reader(redis, time));
        services.AddSingleton<HealthServiceImpl>();

        var app = builder.Build();
        app.MapGrpcService<CustomCostsService>();
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcService<PluginControllerService>();
        app.MapGrpcService<GoPluginStdioService>();
        return app;
    }

    // go-plugin hands the plugin the host's own stdin, which in a pod is /dev/null and reads as closed at once: only a
    // pipe's end means the host has gone.
    private static bool StdinIsPipe()
    {
        try
        {
            return new FileInfo("/proc/self/fd/0").LinkTarget is { } target
                && (target.StartsWith("pipe:", StringComparison.Ordinal) || target.StartsWith("socket:", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static async Task StopWhenStdinClosesAsync(IHostApplicationLifetime lifetime)
    {
        var buffer = new byte[256];
        await using var stdin = Console.OpenStandardInput();
        try
        {
            while (await stdin.ReadAsync(buffer, lifetime.ApplicationStopping) > 0)
            {
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (IOException)
        {
        }

        lifetime.StopApplication();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "OpenCost plugin serving gRPC on 127.0.0.1:{Port}, usage from {Ledger}")]
    private static partial void Serving(ILogger logger, int port, string ledger);
}
