using System.Text.Json;
using System.Text.Json.Nodes;
using Tollgate.Core.Events;
using Tollgate.Core.Routing;
using Tollgate.Meter.Forwarding;

namespace Tollgate.Meter.Routing;

/// <summary>
/// One request's way through a routing rule: the targets it may go to, in order, and, once sent, which one served it
/// after how many attempts. The forwarder hands it to <see cref="RoutingHandler"/> with the outgoing request.
/// </summary>
internal sealed class RoutePlan(
    CompiledRoute route, IReadOnlyList<RouteCandidate> candidates, string pathAndQuery, ReadOnlyMemory<byte> body, string requestedModel, string? fallback)
{
    public static readonly HttpRequestOptionsKey<RoutePlan> OptionsKey = new("tollgate.route-plan");

    /// <summary>The client's path and query, appended to each candidate's endpoint (which may carry a path prefix of its own).</summary>
    public string PathAndQuery => pathAndQuery;

    public CompiledRoute Route => route;

    public IReadOnlyList<RouteCandidate> Candidates => candidates;

    /// <summary>The model the primary candidate sends: what the reservation is priced at.</summary>
    public string PrimaryModel => candidates.Count > 0 ? candidates[0].Model : requestedModel;

    public RouteCandidate? Served { get; set; }

    public int Attempts { get; set; }

    /// <summary>budget_model or budget_response when a budget fallback chose this plan; upstream once a later target served.</summary>
    public string? Fallback { get; set; } = fallback;

    /// <summary>The body for a candidate: the client's, with the model replaced when the target names another.</summary>
    public ReadOnlyMemory<byte> BodyFor(RouteCandidate candidate) => candidate.Model == requestedModel ? body : WithModel(body.Span, candidate.Model);

    public RouteDecision Decision(string provider, string model) =>
        new(route.Name, Served?.Target.Index ?? -1, Served?.Upstream.Provider ?? provider, Served?.Model ?? model, Attempts, Fallback);

    /// <summary>The <c>x-tollgate-route</c> header: rule, target, model, attempts and any fallback, for people reading CI logs.</summary>
    public string Header()
    {
        var served = Served is null ? "none" : $"{Served.Target.Index} {Served.Upstream.Provider}/{Served.Model}";
        return Fallback is null
            ? $"rule={route.Name}; target={served}; attempts={Attempts}"
            : $"rule={route.Name}; target={served}; attempts={Attempts}; fallback={Fallback}";
    }

    private static byte[] WithModel(ReadOnlySpan<byte> json, string model)
    {
        // Only for routed requests, and the meter already parsed this body once: simple beats clever here.
        var node = JsonNode.Parse(json)!.AsObject();
        node["model"] = model;
        return JsonSerializer.SerializeToUtf8Bytes(node);
    }
}

/// <summary>A target made concrete: where to send, with which key, and which model to ask for.</summary>
internal sealed record RouteCandidate(CompiledTarget Target, Upstream Upstream, string Model);
