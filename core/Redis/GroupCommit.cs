namespace Tollgate.Core.Redis;

/// <summary>
/// Group commit for one kind of Redis call: calls made while a write is in flight queue up and go together in the next
/// write, at most <paramref name="maxBatch"/> at a time. An idle batcher writes a call at once, so a lone caller waits
/// for one round trip as before; under load the round trips (and, over TLS, the records each way) grow with the number
/// of batches, not of calls. A failed write fails every call in it with the same exception.
/// </summary>
/// <param name="write">Writes a batch and returns one result per call, in order; never called concurrently with itself.</param>
/// <param name="maxBatch">Most calls per write: bounds a script's run time on Redis, which runs one script at a time.</param>
internal sealed class GroupCommit<TCall, TResult>(Func<IReadOnlyList<TCall>, Task<IReadOnlyList<TResult>>> write, int maxBatch)
{
    private readonly Lock _gate = new();
    private readonly Queue<(TCall Call, TaskCompletionSource<TResult> Result)> _queue = new();
    private bool _writing;
    private long _writes;

    /// <summary>Writes since start.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Queues the call and returns its result once its batch is written.</summary>
    public Task<TResult> SubmitAsync(TCall call)
    {
        // Completed asynchronously, so that one write does not run every waiter's continuation inline, one after another.
        var result = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_gate)
        {
            _queue.Enqueue((call, result));
            start = !_writing;
            _writing = true;
        }

        if (start)
        {
            // Runs inline up to the write's first await, then on the write's completions; it never throws.
            _ = WriteQueuedAsync();
        }

        return result.Task;
    }

    private async Task WriteQueuedAsync()
    {
        while (true)
        {
            List<(TCall Call, TaskCompletionSource<TResult> Result)> batch;
            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _writing = false;
                    return;
                }

                batch = new(Math.Min(_queue.Count, maxBatch));
                while (batch.Count < maxBatch && _queue.TryDequeue(out var next))
                {
                    batch.Add(next);
                }
            }

            try
            {
                Interlocked.Increment(ref _writes);
                var results = await write([.. batch.Select(b => b.Call)]);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Result.TrySetResult(results[i]);
                }
            }
            catch (Exception ex)
            {
                foreach (var (_, result) in batch)
                {
                    result.TrySetException(ex);
                }
            }
        }
    }
}
