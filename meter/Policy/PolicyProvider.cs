using Tollgate.Core.Policy;

namespace Tollgate.Meter.Policy;

/// <summary>Holds the current policy snapshot; the request path reads it without locking, a reload swaps it whole.</summary>
internal sealed class PolicyProvider
{
    private volatile PolicySnapshot _current = PolicySnapshot.Empty;

    public PolicySnapshot Current => _current;

    /// <summary>False until a policy was loaded (or when none is configured, true from the start).</summary>
    public bool Loaded { get; private set; }

    public void Set(PolicySnapshot snapshot)
    {
        _current = snapshot;
        Loaded = true;
    }
}
