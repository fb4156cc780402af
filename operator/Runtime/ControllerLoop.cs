using Microsoft.Extensions.Logging;

namespace Tollgate.Operator.Runtime;

/// <summary>One controller's reconcile function.</summary>
internal interface IReconciler
{
    /// <summary>The kind it reconciles, for logs.</summary>
    string Kind { get; }

    /// <summary>Brings the world in line with the object named <paramref name="key"/>; idempotent.</summary>
    Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken);
}

/// <summary>
/// Drains a <see cref="WorkQueue"/> into a reconciler, one key at a time. An exception or a failure result retries the
/// key with backoff (a 409 from a stale read is the common case: the next pass reads the fresh object); a requeue-after
/// comes back after its delay.
/// </summary>
internal sealed class ControllerLoop(IReconciler reconciler, WorkQueue queue, ILogger logger)
{
    /// <summary>Reconciles run so far (tests use it to see a loop work or stay idle).</summary>
    public int Reconciles => _reconciles;

    private int _reconciles;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            string key;
            try
            {
                key = await queue.TakeAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                return;
            }

            using var scope = logger.BeginScope(new Dictionary<string, object> { ["Kind"] = reconciler.Kind, ["Key"] = key });
            try
            {
                Interlocked.Increment(ref _reconciles);
                var result = await reconciler.ReconcileAsync(key, cancellationToken);
                if (result.Failed)
                {
                    var delay = queue.AddRateLimited(key);
                    RuntimeLog.ReconcileFailed(logger, null, reconciler.Kind, key, result.Error!, delay);
                }
                else
                {
                    queue.Forget(key);
                    if (result.RequeueAfter is { } after)
                    {
                        queue.AddAfter(key, after);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var delay = queue.AddRateLimited(key);
                RuntimeLog.ReconcileFailed(logger, e, reconciler.Kind, key, e.Message, delay);
            }
            finally
            {
                queue.Done(key);
            }
        }
    }
}
