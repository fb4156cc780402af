using StackExchange.Redis;

namespace Tollgate.Core.Redis;

/// <summary>One request's part of a batched reserve: its reservation, settled marker and counter keys, and its arguments.</summary>
internal sealed record ReserveCall(RedisKey[] Keys, RedisValue[] Values);
