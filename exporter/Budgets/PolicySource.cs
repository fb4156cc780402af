using Tollgate.Core.Policy;
using Tollgate.Core.Serialization;

namespace Tollgate.Exporter.Budgets;

/// <summary>
/// The budgets the gauges are published for, from the same YAML the meters read. Checked for changes at most every
/// few seconds by the files' write times (a scrape is the only reader, so no watcher is needed); a policy that no longer
/// loads keeps the last good one.
/// </summary>
internal sealed class PolicySource(ExporterOptions options, TimeProvider time, ILogger<PolicySource> logger)
{
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);
    private PolicySnapshot _current = options.PolicyPath is null ? PolicySnapshot.Empty : PolicyLoader.LoadSnapshot(options.PolicyPath);
    private DateTime _stamp = Stamp(options.PolicyPath);
    private DateTimeOffset _checkedAt = time.GetUtcNow();

    public PolicySnapshot Current
    {
        get
        {
            var now = time.GetUtcNow();
            if (options.PolicyPath is null || now - _checkedAt < CheckEvery)
            {
                return _current;
            }

            _checkedAt = now;
            var stamp = Stamp(options.PolicyPath);
            if (stamp != _stamp)
            {
                try
                {
                    _current = PolicyLoader.LoadSnapshot(options.PolicyPath);
                    _stamp = stamp;
                }
                catch (Exception ex) when (ex is DocumentException or IOException)
                {
                    Log.PolicyReloadFailed(logger, ex.Message);
                }
            }

            return _current;
        }
    }

    private static DateTime Stamp(string? path) => path switch
    {
        null => default,
        _ when Directory.Exists(path) => Directory.EnumerateFiles(path, "*.y*ml", SearchOption.AllDirectories).Select(File.GetLastWriteTimeUtc).DefaultIfEmpty().Max(),
        _ => File.Exists(path) ? File.GetLastWriteTimeUtc(path) : default,
    };
}
