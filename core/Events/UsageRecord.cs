using Tollgate.Core.Ledger;

namespace Tollgate.Core.Events;

/// <summary>
/// What must reach the ledger and the usage stream after a request: the settlement of its budget charges and its
/// usage event. Both sides are idempotent by <see cref="RequestId"/>, so a record may be applied more than once.
/// </summary>
/// <param name="RequestId">The request's id.</param>
/// <param name="Charges">Every budget counter the request was charged against (empty when no budget matched).</param>
/// <param name="Amounts">The actual amount per charge, in each budget's unit.</param>
/// <param name="Event">The usage event, or null when there is nothing to publish.</param>
public sealed record UsageRecord(string RequestId, IReadOnlyList<LedgerCharge> Charges, IReadOnlyList<decimal> Amounts, UsageEvent? Event);
