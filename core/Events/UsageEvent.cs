using Tollgate.Core.Usage;

namespace Tollgate.Core.Events;

/// <summary>
/// One metered request, as published on the usage stream the exporter consumes. It carries tags, counts, cost and
/// timings, never prompt or completion text.
/// </summary>
/// <param name="RequestId">The meter's id for the request (also the <c>x-tollgate-request-id</c> response header); replays are deduplicated by it.</param>
/// <param name="Time">When the request arrived (UTC).</param>
/// <param name="Namespace">The Kubernetes namespace of the meter, empty in standalone mode.</param>
/// <param name="Tags">Every request tag (team, repo, pipeline, agent_step, …).</param>
/// <param name="Provider">anthropic or openai.</param>
/// <param name="Model">The model the provider reported serving (the requested one when it reported none).</param>
/// <param name="Streaming">True when the response was an event stream.</param>
/// <param name="Tokens">Billed tokens by disjoint type.</param>
/// <param name="Estimated">True when the provider never reported usage and the counts are the meter's estimate.</param>
/// <param name="CostUsd">Priced cost.</param>
/// <param name="LatencySeconds">From arrival to the end of the response.</param>
/// <param name="TimeToFirstTokenSeconds">From arrival to the first streamed byte, for streams.</param>
/// <param name="Outcome">The <c>tollgate_requests_total</c> outcome.</param>
/// <param name="Status">The HTTP status the client received.</param>
/// <param name="Budgets">What every matching budget decided and was charged.</param>
/// <param name="Route">The routing rule's decision, or null when no rule applied.</param>
/// <param name="Cache">hit, miss or stored when the rule caches; null otherwise.</param>
/// <param name="SavedUsd">On a cache hit, what the provider call it avoided cost.</param>
public sealed record UsageEvent(
    string RequestId,
    DateTimeOffset Time,
    string Namespace,
    IReadOnlyDictionary<string, string> Tags,
    string Provider,
    string Model,
    bool Streaming,
    TokenUsage Tokens,
    bool Estimated,
    decimal CostUsd,
    double LatencySeconds,
    double? TimeToFirstTokenSeconds,
    string Outcome,
    int Status,
    IReadOnlyList<BudgetCharge> Budgets,
    RouteDecision? Route = null,
    string? Cache = null,
    decimal SavedUsd = 0m);

/// <summary>What a routing rule did with a request.</summary>
/// <param name="Rule">The rule, <c>namespace/name</c>.</param>
/// <param name="Target">Index of the target that served it (-1: none did).</param>
/// <param name="Provider">The provider that served it.</param>
/// <param name="Model">The model sent upstream.</param>
/// <param name="Attempts">Upstream attempts, retries and fallbacks included.</param>
/// <param name="Fallback">null, upstream (a later target served), budget_model or budget_response.</param>
public sealed record RouteDecision(string Rule, int Target, string Provider, string Model, int Attempts, string? Fallback);

/// <summary>A budget's part in a request.</summary>
/// <param name="Budget">Budget name.</param>
/// <param name="Scope">The appliesPer value ("" for a shared counter).</param>
/// <param name="Unit">usd or tokens.</param>
/// <param name="Decision">charged, audit (charged, never blocks), blocked, not_charged (another budget blocked),
/// unavailable (the ledger could not be asked and the budget fails closed) or unchecked (it fails open: admitted, charged later).</param>
/// <param name="Amount">What was charged, in the budget's unit.</param>
public sealed record BudgetCharge(string Budget, string Scope, string Unit, string Decision, decimal Amount);
