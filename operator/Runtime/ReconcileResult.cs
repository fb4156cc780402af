namespace Tollgate.Operator.Runtime;

/// <summary>What a reconcile asks of its loop: nothing more, a retry with backoff, or another pass after a delay.</summary>
internal sealed record ReconcileResult
{
    private ReconcileResult(string? error, TimeSpan? requeueAfter)
    {
        Error = error;
        RequeueAfter = requeueAfter;
    }

    public static ReconcileResult Done { get; } = new(null, null);

    /// <summary>Set on failure; the key is retried with the queue's per-key backoff.</summary>
    public string? Error { get; }

    public TimeSpan? RequeueAfter { get; }

    public bool Failed => Error is not null;

    public static ReconcileResult Success(TimeSpan? requeueAfter = null) => requeueAfter is null ? Done : new(null, requeueAfter);

    public static ReconcileResult Failure(string error) => new(error, null);
}
