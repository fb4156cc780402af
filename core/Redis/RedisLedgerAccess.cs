namespace Tollgate.Core.Redis;

/// <summary>What a component does with the Redis ledger, and so which ACL user it is meant to connect as.</summary>
public enum RedisLedgerAccess
{
    /// <summary>Reserve, settle, reclaim, append usage and count rate limits: a meter (ACL user <c>tollgate-meter</c>).</summary>
    ReadWrite,

    /// <summary>Read counters and the usage stream: the exporter, the operator and tools; no reclaim timer runs.</summary>
    Read,
}
