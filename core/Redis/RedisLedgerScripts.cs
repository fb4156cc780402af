namespace Tollgate.Core.Redis;

/// <summary>
/// The Lua scripts behind <see cref="RedisLedger"/>. Each operation is one script, so it is atomic and one round trip.
/// Amounts are integer micro-units passed and returned as decimal strings: HINCRBY keeps them exact in int64, and a
/// comparison in Lua (whose numbers are doubles) is exact below 2^53 micro-units, which <see cref="RedisLedger"/> enforces.
/// </summary>
/// <remarks>
/// Counter hash: <c>spent</c>, <c>reserved</c> (micro-units) plus <c>budget</c>, <c>scope</c>, <c>start</c>, <c>end</c>
/// (Unix seconds) for snapshots. Reservation hash: <c>n</c>, <c>state</c> (held, or charged once its lease was reclaimed), <c>lease</c> (Unix ms) and
/// for each charge i (1-based, in the charges' order) <c>k{i}</c> = counter key and <c>e{i}</c> = estimate.
/// The reclaim and snapshot scripts build keys they were not passed (from the lease set and the index); Redis Cluster
/// runs such scripts only because every key shares one hash tag and so one slot.
/// </remarks>
internal static class RedisLedgerScripts
{
    // Shared helpers. HINCRBY rejects "-0", so releasing a zero amount must be skipped rather than negated. CEILING is
    // LedgerAmounts.CounterCeiling in micro-units (2^62): HINCRBY fails at int64, and a script that fails halfway keeps
    // the writes it made, so no step may rely on HINCRBY refusing an overflow.
    internal const string Helpers = """
        local CEILING = 4611686018427387904
        local CEILING_TEXT = '4611686018427387904'

        -- Adds spend, staying at the ceiling rather than passing it: the budget is closed either way.
        local function add_spent(key, amount)
          if tonumber(redis.call('HGET', key, 'spent') or '0') + tonumber(amount) > CEILING then
            redis.call('HSET', key, 'spent', CEILING_TEXT)
          else
            redis.call('HINCRBY', key, 'spent', amount)
          end
        end

        local function ensure_counter(key, index, budget, scope, start_s, end_s, ttl_ms)
          if redis.call('EXISTS', key) == 0 then
            redis.call('HSET', key, 'spent', '0', 'reserved', '0', 'budget', budget, 'scope', scope, 'start', start_s, 'end', end_s)
            redis.call('PEXPIRE', key, ttl_ms)
            redis.call('ZADD', index, end_s, key)
          end
        end

        local function subtract(key, field, amount)
          if amount and amount ~= '0' then
            redis.call('HINCRBY', key, field, '-' .. amount)
          end
        end

        -- Gives back a held reservation's estimates; counters that expired meanwhile are not brought back.
        local function release(record)
          local n = tonumber(redis.call('HGET', record, 'n'))
          for i = 1, n do
            local key = redis.call('HGET', record, 'k' .. i)
            if redis.call('EXISTS', key) == 1 then
              subtract(key, 'reserved', redis.call('HGET', record, 'e' .. i))
            end
          end
        end

        -- Turns a held reservation into spend at its estimates (a lease that ran out: its meter died mid-request).
        local function charge(record)
          local n = tonumber(redis.call('HGET', record, 'n'))
          for i = 1, n do
            local key = redis.call('HGET', record, 'k' .. i)
            if redis.call('EXISTS', key) == 1 then
              local e = redis.call('HGET', record, 'e' .. i)
              subtract(key, 'reserved', e)
              add_spent(key, e)
            end
          end
        end

        -- Takes back the estimates that charge() spent, before a late settle adds the actual amounts.
        local function uncharge(record)
          local n = tonumber(redis.call('HGET', record, 'n'))
          for i = 1, n do
            local key = redis.call('HGET', record, 'k' .. i)
            if redis.call('EXISTS', key) == 1 then
              subtract(key, 'spent', redis.call('HGET', record, 'e' .. i))
            end
          end
        end

        -- Settles one request with its charges, needing no reservation. Its n counters are KEYS[first .. first + n - 1];
        -- charge i's actual amount, budget, scope, period start, period end (Unix s) and counter TTL (ms) are
        -- ARGV[a + 6(i - 1) + 1 .. a + 6(i - 1) + 6]. Returns 1 released a held reservation, 2 replaced the charged
        -- estimate of one already reclaimed, 3 there was none, 0 already settled.
        local function settle(leases, record, marker, index, id, retention, first, n, a)
          if redis.call('EXISTS', marker) == 1 then
            return 0
          end
          local state = redis.call('HGET', record, 'state')
          if state == 'held' then
            release(record)
          elseif state then
            uncharge(record)
          end
          for i = 1, n do
            local b = a + (i - 1) * 6
            local key = KEYS[first + i - 1]
            ensure_counter(key, index, ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6])
            add_spent(key, ARGV[b + 1])
          end
          redis.call('DEL', record)
          redis.call('ZREM', leases, id)
          redis.call('SET', marker, '1', 'PX', retention)
          if state == 'held' then
            return 1
          elseif state then
            return 2
          end
          return 3
        end

        """;

    /// <summary>
    /// Reserves for several requests, one after the other, as if each had run the reserve on its own: a later one sees
    /// what the earlier ones reserved. KEYS: leases, index, then per request its reservation, its settled marker and one
    /// counter per charge. ARGV, per request: n (charges), request id, lease deadline (Unix ms), reservation TTL (ms),
    /// then per charge limit, estimate, blocking mode (0 cannot block, 1 soft, 2 hard cap), budget, scope, period start,
    /// period end (Unix s), counter TTL (ms).
    /// Returns per request {blocking index or -1, spent 1, reserved 1, spent 2, …} as the decision saw them (before
    /// reserving), or {-3, index} when charge index's reservations would pass the counter ceiling (nothing reserved).
    /// </summary>
    public static readonly RedisScript ReserveMany = new(Helpers + """
        local function reserve(leases, record, marker, index, first, n, o)
          local result = {-1}
          local blocking = -1
          for i = 1, n do
            local a = o + 3 + (i - 1) * 8
            local v = redis.call('HMGET', KEYS[first + i - 1], 'spent', 'reserved')
            local spent = v[1] or '0'
            local reserved = v[2] or '0'
            result[2 * i] = spent
            result[2 * i + 1] = reserved
            -- BudgetDecision.Evaluate: the first charge that can block and has no headroom left, or, for a hard cap,
            -- no room for this request's estimate.
            local mode = ARGV[a + 3]
            if blocking < 0 and mode ~= '0' then
              local committed = tonumber(spent) + tonumber(reserved)
              local limit = tonumber(ARGV[a + 1])
              if committed >= limit or (mode == '2' and committed + tonumber(ARGV[a + 2]) > limit) then
                blocking = i - 1
              end
            end
          end
          result[1] = blocking
          if blocking >= 0 then
            return result
          end

          -- A retried call for a request that holds, held or settled a reservation must not reserve twice.
          if redis.call('EXISTS', record) == 1 or redis.call('EXISTS', marker) == 1 then
            return result
          end

          -- Refused before any write: reservations are given back later, so they cannot stay at the ceiling like spend.
          for i = 1, n do
            if tonumber(result[2 * i + 1]) + tonumber(ARGV[o + 3 + (i - 1) * 8 + 2]) > CEILING then
              return {-3, i - 1}
            end
          end

          local fields = {'n', n, 'state', 'held', 'lease', ARGV[o + 2]}
          for i = 1, n do
            local a = o + 3 + (i - 1) * 8
            local key = KEYS[first + i - 1]
            ensure_counter(key, index, ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8])
            redis.call('HINCRBY', key, 'reserved', ARGV[a + 2])
            fields[#fields + 1] = 'k' .. i
            fields[#fields + 1] = key
            fields[#fields + 1] = 'e' .. i
            fields[#fields + 1] = ARGV[a + 2]
          end
          redis.call('HSET', record, unpack(fields))
          redis.call('PEXPIRE', record, ARGV[o + 3])
          redis.call('ZADD', leases, ARGV[o + 2], ARGV[o + 1])
          return result
        end

        local results = {}
        local k = 3
        local a = 1
        while a <= #ARGV do
          local n = tonumber(ARGV[a])
          results[#results + 1] = reserve(KEYS[1], KEYS[k], KEYS[k + 1], KEYS[2], k + 2, n, a)
          k = k + 2 + n
          a = a + 4 + 8 * n
        end
        return results
        """);

    /// <summary>
    /// Settles with the charges given (a spool replay), needing no reservation. KEYS: leases, reservation, settled
    /// marker, index, then one counter per charge. ARGV: request id, settled retention (ms), then per charge
    /// actual amount, budget, scope, period start, period end (Unix s), counter TTL (ms).
    /// Returns {1} released a held reservation, {2} replaced the charged estimate of one already reclaimed, {3} there was none, {0} already settled.
    /// </summary>
    public static readonly RedisScript SettleCharges = new(Helpers + """
        return {settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], 5, #KEYS - 4, 2)}
        """);

    /// <summary>
    /// KEYS: leases, index. ARGV: now (Unix ms), key prefix, settled retention (ms), batch size, index horizon (Unix s).
    /// Charges the estimates of at most a batch of expired leases as spend (fail-safe, as the embedded ledger counts an
    /// unsettled reservation after a crash) and drops index entries of counters past their grace.
    /// Returns {leases looked at, reservations charged}.
    /// </summary>
    public static readonly RedisScript Reclaim = new(Helpers + """
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
        local released = 0
        for _, id in ipairs(ids) do
          local record = ARGV[2] .. 'r:' .. id
          if redis.call('HGET', record, 'state') == 'held' then
            charge(record)
            -- Kept, marked charged, so that a late settle can replace the estimates with the actual amounts.
            redis.call('HSET', record, 'state', 'charged')
            redis.call('PEXPIRE', record, ARGV[3])
            released = released + 1
          end
          redis.call('ZREM', KEYS[1], id)
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
        return {#ids, released}
        """);

    /// <summary>
    /// KEYS: index. ARGV: now (Unix s). Returns budget, scope, start, end, spent, reserved for every counter whose
    /// period contains now, flattened.
    /// </summary>
    public static readonly RedisScript Snapshot = new("""
        local now = tonumber(ARGV[1])
        local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
        local out = {}
        for _, key in ipairs(keys) do
          local v = redis.call('HMGET', key, 'budget', 'scope', 'start', 'end', 'spent', 'reserved')
          if v[1] and tonumber(v[3]) <= now then
            for j = 1, 6 do
              out[#out + 1] = v[j]
            end
          end
        end
        return out
        """);
}
