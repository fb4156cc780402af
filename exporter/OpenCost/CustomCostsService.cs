using Grpc.Core;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Exporter.OpenCost.Protocol;

namespace Tollgate.Exporter.OpenCost;

/// <summary>OpenCost's <c>CustomCostsSource</c>: the spend of each step of the window, read from the usage stream.</summary>
internal sealed class CustomCostsService(RedisUsageStream stream, OpenCostPluginConfig config, TimeProvider time) : CustomCostsSource.CustomCostsSourceBase
{
    private const int MaxWindows = 10_000;

    public override async Task<CustomCostResponseSet> GetCustomCosts(CustomCostRequest request, ServerCallContext context)
    {
        if (request.Start is null || request.End is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "start and end are required"));
        }

        DateTimeOffset start, end;
        TimeSpan resolution;
        try
        {
            start = request.Start.ToDateTimeOffset();
            end = request.End.ToDateTimeOffset();
            // No resolution at all means one step of a day; an explicit one must be positive, or the step guard below means nothing.
            resolution = request.Resolution?.ToTimeSpan() ?? TimeSpan.FromDays(1);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentOutOfRangeException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"start, end and resolution must be valid timestamps and durations ({ex.Message})"));
        }

        if (resolution <= TimeSpan.Zero)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"resolution {resolution} must be positive"));
        }

        if (end > start && (end - start) / resolution > MaxWindows)
        {
            // OpenCost asks for hours and days; a tiny resolution over a long window would only exhaust memory.
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"resolution {resolution} splits the window into more than {MaxWindows} steps"));
        }

        var windows = CustomCostBuilder.Split(start, end, resolution);

        var buckets = windows.Select(_ => new List<UsageEvent>()).ToArray();
        var now = time.GetUtcNow();

        string? failure = null;
        // Nothing has happened at or after now: a window entirely in the future is empty without asking Redis.
        if (windows.Count > 0 && start < now)
        {
            try
            {
                await ReadAsync(start, end, windows, buckets, context.CancellationToken);
            }
            catch (LedgerUnavailableException ex)
            {
                // Errors, not empty costs: OpenCost stores an empty window as "nothing was spent" and skips one with errors.
                failure = $"the usage stream could not be read: {ex.Message}";
            }
        }

        var set = new CustomCostResponseSet();
        for (var i = 0; i < windows.Count; i++)
        {
            if (failure is null)
            {
                set.Resps.Add(CustomCostBuilder.Response(windows[i], config.Currency, buckets[i]));
            }
            else
            {
                var response = CustomCostBuilder.Response(windows[i], config.Currency, []);
                response.Errors.Add(failure);
                set.Resps.Add(response);
            }
        }

        return set;
    }

    private async Task ReadAsync(DateTimeOffset start, DateTimeOffset end, IReadOnlyList<CustomCostBuilder.Window> windows, List<UsageEvent>[] buckets, CancellationToken cancellationToken)
    {
        // An entry is appended after its request began (a spooled one much later), so the entries from `start` to the
        // stream's end hold every event of the window; the event's own time places it.
        // An invalid entry is skipped (the exporter's consumer counts and dead-letters it): one bad entry must not fail a window.
        await foreach (var e in stream.ReadRangeAsync(start, DateTimeOffset.MaxValue, cancellationToken))
        {
            if (e.Time < start || e.Time >= end)
            {
                continue;
            }

            var index = Index(windows, e.Time);
            if (index >= 0)
            {
                buckets[index].Add(e);
            }
        }
    }

    private static int Index(IReadOnlyList<CustomCostBuilder.Window> windows, DateTimeOffset time)
    {
        int low = 0, high = windows.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) / 2;
            if (time < windows[middle].Start)
            {
                high = middle - 1;
            }
            else if (time >= windows[middle].End)
            {
                low = middle + 1;
            }
            else
            {
                return middle;
            }
        }

        return -1;
    }
}
