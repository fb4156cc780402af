using Tollgate.Core.Routing;
using Tollgate.Meter.Forwarding;
using Tollgate.Meter.Keys;

namespace Tollgate.Meter.Routing;

/// <summary>Turns a rule's targets into concrete candidates for one request: endpoint, key and model.</summary>
internal sealed class RouteEndpoints(UpstreamRegistry upstreams, KeyStore keys, ILogger<RouteEndpoints> logger)
{
    /// <summary>
    /// The candidates of <paramref name="route"/> a request of <paramref name="provider"/> can use, in order. A target
    /// of another provider is skipped: the meter never translates between provider APIs, so a rule routes within one.
    /// A target whose key cannot be read is skipped too, and says why in the log.
    /// </summary>
    public IReadOnlyList<RouteCandidate> Resolve(CompiledRoute route, string provider)
    {
        if (route.Targets.Count == 0)
        {
            return [];
        }

        var candidates = new List<RouteCandidate>(route.Targets.Count);
        foreach (var target in route.Targets)
        {
            if (target.Provider != provider)
            {
                continue;
            }

            var upstream = target.BaseUrl is null ? upstreams.Get(provider) : upstreams.ForBaseUrl(provider, target.BaseUrl);
            if (upstream is null)
            {
                continue;
            }

            if (target.ApiKey is { } reference)
            {
                try
                {
                    upstream = upstream with { ApiKey = keys.Secret(reference) };
                }
                catch (IOException ex)
                {
                    Log.RouteTargetSkipped(logger, route.Name, target.Index, ex.Message);
                    continue;
                }
            }

            candidates.Add(new RouteCandidate(target, upstream, target.Model));
        }

        return candidates;
    }
}
