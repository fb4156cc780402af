using System.Text.Json.Nodes;
using Tollgate.Core.Events;
using Tollgate.Core.Metrics;
using Tollgate.Core.Pipeline;
using Tollgate.Core.Routing;
using Tollgate.Core.Serialization;
using Tollgate.Meter.Forwarding;

namespace Tollgate.Meter.Routing;

/// <summary>
/// One request's way through a routing rule: the targets it may go to, in order. Immutable: the forwarder hands it to
/// <see cref="RoutingHandler"/> with the outgoing request, and the handler answers with a <see cref="RouteResult"/>.
/// </summary>
/// <param name="Route">The rule.</param>
/// <param name="Candidates">The targets, in the order they are tried.</param>
/// <param name="PathAndQuery">The client's path and query, appended to each candidate's endpoint (which may carry a path prefix of its own).</param>
/// <param name="Body">The body the client sent (as the meter may have rewritten it).</param>
/// <param name="RequestedModel">The model the client asked for.</param>
/// <param name="Fallback">budget_model or budget_response when a budget fallback chose this plan.</param>
internal sealed record RoutePlan(
    CompiledRoute Route, IReadOnlyList<RouteCandidate> Candidates, string PathAndQuery, ReadOnlyMemory<byte> Body, string RequestedModel, string? Fallback)
{
    public static readonly HttpRequestOptionsKey<RoutePlan> OptionsKey = new("tollgate.route-plan");

    /// <summary>The plan of an admitted request: the rule's targets, or the budget fallback's cheaper model; null when no rule routes it.</summary>
    /// <param name="admitted">The admit stage's answer.</param>
    /// <param name="upstream">The provider's upstream, where the cheaper model goes.</param>
    /// <param name="pathAndQuery">The canonical path and the query.</param>
    public static RoutePlan? For(Admitted<RouteCandidate> admitted, Upstream upstream, string pathAndQuery)
    {
        var (request, route) = (admitted.Request, admitted.Route);
        if (admitted.FallbackModel is { } cheaper)
        {
            var target = new CompiledTarget(-1, request.Provider, cheaper, null, null);
            return new RoutePlan(route!, [new RouteCandidate(target, upstream, cheaper)], pathAndQuery, admitted.Body, request.Model, FallbackKinds.BudgetModel);
        }

        return admitted.Candidates.Count > 0 ? new RoutePlan(route!, admitted.Candidates, pathAndQuery, admitted.Body, request.Model, null) : null;
    }

    /// <summary>The model the primary candidate sends: what the reservation is priced at.</summary>
    public string PrimaryModel => Candidates.Count > 0 ? Candidates[0].Model : RequestedModel;

    /// <summary>The result of a plan no target was tried for.</summary>
    public RouteResult Unsent => new(Route.Name, null, 0, Fallback);

    /// <summary>The body for a candidate: the client's, with the model replaced when the target names another.</summary>
    public ReadOnlyMemory<byte> BodyFor(RouteCandidate candidate) => candidate.Model == RequestedModel ? Body : WithModel(Body.Span, candidate.Model);

    private static byte[] WithModel(ReadOnlySpan<byte> json, string model)
    {
        // Only for routed requests, and the meter already parsed this body once: simple beats clever here.
        var node = JsonNode.Parse(json)!.AsObject();
        node["model"] = model;
        return JsonNodeBytes.Of(node);
    }
}

/// <summary>
/// What the routing handler did with a plan: which target served, after how many attempts, and any fallback. Written
/// once per request by <see cref="RoutingHandler"/>, on the outgoing request's options, whatever way the send ended.
/// </summary>
/// <param name="Rule">The rule's name.</param>
/// <param name="Served">The candidate that served, or null when none did.</param>
/// <param name="Attempts">Upstream attempts, retries and fallbacks included.</param>
/// <param name="Fallback">The plan's budget fallback, or upstream once a later target served.</param>
internal sealed record RouteResult(string Rule, RouteCandidate? Served, int Attempts, string? Fallback)
{
    public static readonly HttpRequestOptionsKey<RouteResult> OptionsKey = new("tollgate.route-result");

    public RouteDecision Decision(string provider, string model) =>
        new(Rule, Served?.Target.Index ?? -1, Served?.Upstream.Provider ?? provider, Served?.Model ?? model, Attempts, Fallback);

    /// <summary>The <c>x-tollgate-route</c> header: rule, target, model, attempts and any fallback, for people reading CI logs.</summary>
    public string Header()
    {
        var served = Served is null ? "none" : $"{Served.Target.Index} {Served.Upstream.Provider}/{Served.Model}";
        return Fallback is null
            ? $"rule={Rule}; target={served}; attempts={Attempts}"
            : $"rule={Rule}; target={served}; attempts={Attempts}; fallback={Fallback}";
    }
}

/// <summary>A target made concrete: where to send, with which key, and which model to ask for.</summary>
internal sealed record RouteCandidate(CompiledTarget Target, Upstream Upstream, string Model) : Core.Pipeline.IRouteCandidate;
