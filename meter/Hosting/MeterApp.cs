using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Prometheus;
using Tollgate.Core.Budgets;
using Tollgate.Core.Caching;
using Tollgate.Core.Estimation;
using Tollgate.Core.Events;
using Tollgate.Core.Hosting;
using Tollgate.Core.Ledger;
using Tollgate.Core.Ledger.Redis;
using Tollgate.Core.Pricing;
using Tollgate.Core.RateLimits;
using Tollgate.Meter.Admin;
using Tollgate.Meter.Forwarding;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Policy;
using Tollgate.Meter.Recording;
using Tollgate.Meter.Routing;

namespace Tollgate.Meter.Hosting;

/// <summary>Composition root of the meter: one Kestrel server with a proxy endpoint and an admin endpoint.</summary>
public sealed class MeterApp : IAsyncDisposable
{
    private const string AdminConnectionKey = "tollgate.admin";

    private readonly WebApplication _app;

    private MeterApp(WebApplication app, IBudgetLedger ledger)
    {
        _app = app;
        Ledger = ledger;
    }

    public IBudgetLedger Ledger { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The bound proxy address (meaningful after <see cref="StartAsync"/>, also with port 0).</summary>
    public Uri ProxyUri { get; private set; } = new("http://127.0.0.1");

    public Uri AdminUri { get; private set; } = new("http://127.0.0.1");

    /// <summary>
    /// Validates the configuration, loads pricing and policy and opens the ledger. Throws
    /// <see cref="Core.Serialization.DocumentException"/> for a bad file, <see cref="IOException"/> for an unusable ledger.
    /// </summary>
    public static async Task<MeterApp> CreateAsync(MeterOptions options, MeterAppSettings? settings = null, CancellationToken cancellationToken = default)
    {
        settings ??= new MeterAppSettings();
        var time = settings.Time ?? TimeProvider.System;
        var pricing = options.PricingPath is null ? PricingCatalog.LoadEmbedded() : PricingCatalog.LoadFile(options.PricingPath);
        var initialPolicy = PolicyReloader.LoadInitial(options);
        var broker = options.KeyBroker is null ? null : new BrokerKeySource(time);
        var ledger = settings.Ledger ?? await OpenLedgerAsync(options, broker, time, settings.MinimumLogLevel, cancellationToken);
        var spoolPath = options.SpoolPath ?? options.Ledger switch
        {
            "memory" => null,
            var redis when MeterOptions.IsRedisLedger(redis) => MeterOptions.DataDirectory + "/usage.spool",
            var file => file + ".spool",
        };
        var spool = spoolPath is null ? UsageSpool.InMemory() : UsageSpool.Open(spoolPath);

        // A Redis ledger carries the cluster's shared state: usage stream and rate-limit windows live beside the counters.
        var redisLedger = ledger as RedisLedger;
        var sink = settings.UsageSink ?? (redisLedger is null ? NoUsageSink.Instance : RedisUsageStream.For(redisLedger, new UsageStreamOptions(), time));
        var limiter = settings.RateLimiter ?? (redisLedger is null ? new InProcessRateLimiter() : RedisRateLimiter.For(redisLedger));

        var builder = ProcessHost.CreateBuilder(typeof(MeterApp).Assembly, settings.MinimumLogLevel);
        if (settings.LoggerProvider is { } loggerProvider)
        {
            builder.Logging.AddProvider(loggerProvider);
        }

        builder.Logging.AddFilter("Yarp", LogLevel.Warning);

        if (!EndpointParser.TryParse(options.Listen, out var proxyEndpoint, out var listenError)
            || !EndpointParser.TryParse(options.AdminListen, out var adminEndpoint, out listenError))
        {
            throw new ArgumentException(listenError, nameof(options));
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // The meter enforces its own limit so that an oversized body gets a JSON 413 a client can read.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(proxyEndpoint);
            kestrel.Listen(adminEndpoint, listen => listen.Use(next => connection =>
            {
                connection.Items[AdminConnectionKey] = true;
                return next(connection);
            }));
        });

        var registry = settings.Registry ?? Metrics.NewCustomRegistry();
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(time);
        services.AddSingleton(pricing);
        services.AddSingleton<IBudgetLedger>(ledger);
        services.AddSingleton(sp => new MeterMetrics(registry, options.MaxLabelValues, sp.GetRequiredService<ILogger<MeterMetrics>>()));
        services.AddSingleton(sp =>
        {
            var provider = new PolicyProvider();
            provider.Set(initialPolicy);
            return provider;
        });
        services.AddSingleton(new InputTokenEstimator(options.InputEstimate));
        services.AddSingleton(sp => new BudgetGuard(sp.GetRequiredService<IBudgetLedger>(), time));
        // On Redis, settlements and events of concurrent requests go together in one script call (see UsageRecorder).
        IUsageWriter writer = redisLedger is not null && sink is RedisUsageStream stream
            ? new RedisUsageWriter(redisLedger, stream)
            : new SeparateUsageWriter(ledger, sink);
        services.AddSingleton(sp => new UsageRecorder(writer, spool, sp.GetRequiredService<ILogger<UsageRecorder>>()));
        services.AddSingleton(limiter);
        services.AddSingleton(new ResponseCache(new ResponseCacheOptions(), time));
        services.AddSingleton(new RetryBudget(time));
        services.AddSingleton(new DailySpendHistory());
        services.AddSingleton(sp => new Core.Pipeline.Settlement(sp.GetRequiredService<BudgetGuard>(), sp.GetRequiredService<UsageRecorder>(), sp.GetRequiredService<DailySpendHistory>(), time));
        services.AddSingleton(sp => new Core.Pipeline.BudgetAdmitter(sp.GetRequiredService<Core.Pipeline.Settlement>()));
        services.AddSingleton<Core.Pipeline.UsageAccountant>();
        services.AddSingleton(sp =>
        {
            var policy = sp.GetRequiredService<PolicyProvider>();
            return new Core.Pipeline.RequestAdmitter(() => policy.Current, sp.GetRequiredService<Core.Pipeline.BudgetAdmitter>(), sp.GetRequiredService<IRateLimiter>(),
                sp.GetRequiredService<ResponseCache>(), sp.GetRequiredService<InputTokenEstimator>(), pricing,
                new Core.Pipeline.AdmitSettings(options.NamespaceLabels, options.DefaultMaxOutputTokens), time);
        });
        if (broker is null)
        {
            services.AddSingleton<IKeySource>(new LocalKeySource(options.ApiKeys, new SecretFiles(options.SecretsDirectory, time)));
        }
        else
        {
            services.AddSingleton(broker);
            services.AddSingleton<IKeySource>(broker);
            services.AddSingleton(_ => new KeyBrokerClient(options.KeyBroker!, options.KeyBrokerTokenPath!, options.KeyBrokerCaPath!, time));
            services.AddSingleton<KeyBrokerRefresher>();
            services.AddHostedService(sp => sp.GetRequiredService<KeyBrokerRefresher>());
        }

        services.AddSingleton<KeyStore>();
        services.AddSingleton<UpstreamTransformer>();
        services.AddSingleton<TargetPipelines>();
        services.AddSingleton<RouteEndpoints>();
        services.AddSingleton(sp => new HttpMessageInvoker(new RoutingHandler(sp.GetRequiredService<TargetPipelines>(), sp.GetRequiredService<KeyStore>(), sp.GetRequiredService<MeterMetrics>())));
        services.AddHostedService<SpoolReplayer>();
        services.AddSingleton<UpstreamRegistry>();
        services.AddSingleton(new Core.Endpoints.EndpointPolicy(options.AllowUnmetered));
        services.AddSingleton(sp => new Core.Pipeline.RequestClassifier(sp.GetRequiredService<Core.Endpoints.EndpointPolicy>(), options.IdentityTags, options.RequiredTags));
        services.AddSingleton<BudgetGauges>();
        services.AddSingleton<UpstreamForwarder>();
        services.AddSingleton<RequestRecorder>();
        services.AddSingleton<MeteredExchange>();
        services.AddSingleton<ProxyHandler>();
        services.AddSingleton<PolicyReloader>();
        services.AddHostedService(sp => sp.GetRequiredService<PolicyReloader>());
        services.AddHttpForwarder();

        var app = builder.Build();
        var gauges = app.Services.GetRequiredService<BudgetGauges>();
        registry.AddBeforeCollectCallback(gauges.UpdateAsync);
        var recorder = app.Services.GetRequiredService<UsageRecorder>();
        var meterMetrics = app.Services.GetRequiredService<MeterMetrics>();
        var responseCache = app.Services.GetRequiredService<ResponseCache>();
        registry.AddBeforeCollectCallback(() =>
        {
            meterMetrics.CacheEntries.Set(responseCache.Count);
            meterMetrics.CacheBytes.Set(responseCache.SizeBytes);
            meterMetrics.UsageSpooled.Set(recorder.Spool.Count);
            meterMetrics.UsageReplayed.IncTo(recorder.Replayed);
        });
        var handler = app.Services.GetRequiredService<ProxyHandler>();
        var logger = app.Services.GetRequiredService<ILogger<MeterApp>>();
        app.Run(context =>
        {
            var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
            return items is not null && items.ContainsKey(AdminConnectionKey) ? AdminEndpoints.HandleAsync(context) : handler.HandleAsync(context);
        });

        if (ledger is EmbeddedLedger embedded)
        {
            Log.LedgerOpened(logger, options.Ledger, embedded.RecoveredReservations, embedded.SkippedJournalLines);
            if (embedded.SkippedJournalAmounts > 0)
            {
                Log.JournalAmountsSkipped(logger, options.Ledger, embedded.SkippedJournalAmounts);
            }
        }

        Log.PolicyLoaded(logger, initialPolicy.Source, initialPolicy.Budgets.Count, initialPolicy.RoutingRules.Count);
        return new MeterApp(app, ledger);
    }

    private static async Task<IBudgetLedger> OpenLedgerAsync(MeterOptions options, BrokerKeySource? broker, TimeProvider time, LogLevel minimumLogLevel, CancellationToken cancellationToken)
    {
        if (options.Ledger == "memory")
        {
            return EmbeddedLedger.InMemory(time);
        }

        if (MeterOptions.IsRedisLedger(options.Ledger))
        {
            // Does not wait for Redis: a meter that starts during an outage serves (per failure policy) and turns ready when it connects.
            // The ledger outlives this call and logs for the process's lifetime (a refused user, a lost connection), before the host's logging exists.
            var loggerFactory = ProcessHost.CreateLoggerFactory(minimumLogLevel);
            var ledgerOptions = options.LedgerSettings.ToOptions(RedisLedgerAccess.ReadWrite);
            if (broker is not null && ledgerOptions is { Credentials: null, Address.Password: null })
            {
                // Neither the address nor --ledger-password-file gives a password: the broker's, asked at every connect.
                ledgerOptions = ledgerOptions with { Credentials = broker.LedgerCredentials(ledgerOptions.Address.User) };
            }

            return await RedisLedger.ConnectAsync(ledgerOptions, time, loggerFactory.CreateLogger<RedisLedger>(), cancellationToken);
        }

        return EmbeddedLedger.Open(options.Ledger, time);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        // The o200k vocabulary costs tens of MB and ~0.5 s to load: only a meter with budgets needs it up front
        // (one without loads it on the first abandoned stream that needs an estimate, or after a reload adds budgets).
        if (Services.GetRequiredService<PolicyProvider>().Current.Budgets.Count > 0)
        {
            await Task.Run(() => Services.GetRequiredService<InputTokenEstimator>().Warm(), cancellationToken);
        }

        await _app.StartAsync(cancellationToken);

        // Kestrel reports bound addresses in the order the endpoints were configured: proxy, then admin.
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        ProxyUri = new Uri(addresses[0].Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        AdminUri = new Uri(addresses[1].Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        var logger = Services.GetRequiredService<ILogger<MeterApp>>();
        if (logger.IsEnabled(LogLevel.Information))
        {
            Log.Listening(logger, ProxyUri.ToString(), AdminUri.ToString(), Services.GetRequiredService<MeterOptions>().PrintableLedger);
        }
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken = default) => await _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        var recorder = _app.Services.GetRequiredService<UsageRecorder>();
        await _app.DisposeAsync();
        recorder.Spool.Dispose();
        recorder.Dispose();
        await Ledger.DisposeAsync();
    }
}
