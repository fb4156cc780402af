using Tollgate.Core.Policy;
using Tollgate.Core.Serialization;
using Tollgate.Meter.Metering;

namespace Tollgate.Meter.Policy;

/// <summary>
/// Reloads the policy when its file or folder changes. A change that does not load keeps the last good policy and
/// is logged with the file, document and field at fault. Watching the folder (not the file) also catches Kubernetes
/// ConfigMap updates, which swap a symlink rather than write the file.
/// </summary>
internal sealed class PolicyReloader(PolicyProvider provider, MeterOptions options, MeterMetrics metrics, TimeProvider time, ILogger<PolicyReloader> logger)
    : BackgroundService
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(250);

    /// <summary>Loads the policy once, throwing on error: a bad policy at start-up must stop the process.</summary>
    public static PolicySnapshot LoadInitial(MeterOptions options) =>
        options.PolicyPath is null ? PolicySnapshot.Empty : PolicyLoader.LoadSnapshot(options.PolicyPath);

    /// <summary>Reloads now; returns false (keeping the current policy) when the files do not load.</summary>
    public bool TryReload()
    {
        if (options.PolicyPath is null)
        {
            return true;
        }

        try
        {
            var documents = PolicyLoader.Load(options.PolicyPath);
            foreach (var skipped in documents.Ignored)
            {
                Log.PolicyDocumentSkipped(logger, skipped);
            }

            var snapshot = PolicyCompiler.Compile(documents, options.PolicyPath);
            provider.Set(snapshot);
            metrics.PolicyReloads.WithLabels("success").Inc();
            Log.PolicyLoaded(logger, snapshot.Source, snapshot.Budgets.Count, snapshot.RoutingRules.Count);
            return true;
        }
        catch (DocumentException ex)
        {
            metrics.PolicyReloads.WithLabels("failure").Inc();
            Log.PolicyRejected(logger, string.Join("; ", ex.Errors));
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.PolicyPath is null)
        {
            return;
        }

        var full = Path.GetFullPath(options.PolicyPath);
        var isFolder = Directory.Exists(full);
        var folder = isFolder ? full : Path.GetDirectoryName(full)!;
        var fileName = Path.GetFileName(full);

        // Other files may share the folder (the ledger journal, say): react only to policy files, and to the "..data"
        // symlink swap with which Kubernetes updates a mounted ConfigMap.
        bool Relevant(string? name) => name is not null
            && (name.StartsWith("..", StringComparison.Ordinal)
                || (isFolder ? name.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".yml", StringComparison.OrdinalIgnoreCase) : name == fileName));
        using var changed = new SemaphoreSlim(0);
        using var watcher = new FileSystemWatcher(folder)
        {
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime | NotifyFilters.DirectoryName,
        };
        FileSystemEventHandler onChange = (_, e) =>
        {
            if (Relevant(e.Name))
            {
                changed.Release();
            }
        };
        watcher.Changed += onChange;
        watcher.Created += onChange;
        watcher.Deleted += onChange;
        watcher.Renamed += (_, e) =>
        {
            if (Relevant(e.Name) || Relevant(e.OldName))
            {
                changed.Release();
            }
        };
        watcher.EnableRaisingEvents = true;

        while (!stoppingToken.IsCancellationRequested)
        {
            await changed.WaitAsync(stoppingToken);

            // Editors write files in several steps; wait for the burst to end, then load once.
            await Task.Delay(Debounce, time, stoppingToken);
            while (changed.CurrentCount > 0)
            {
                await changed.WaitAsync(stoppingToken);
            }

            TryReload();
        }
    }
}
