using Tollgate.Core.Pipeline;
using Tollgate.Core.Tagging;

namespace Tollgate.Meter.Metering;

/// <summary>The bounded label values of one request. High-cardinality tags (user, PR number) are never labels.</summary>
internal readonly record struct UsageLabels(string Namespace, string Team, string Repo, string Pipeline, string AgentStep, string Provider, string Model)
{
    /// <summary>The labels of a request: exactly what its usage event carries, so the exporter derives the same ones.</summary>
    public static UsageLabels Of(MeteredRequest request) =>
        new(request.Namespace, request.Tag(TagKeys.Team), request.Tag(TagKeys.Repo), request.Tag(TagKeys.Pipeline), request.Tag(TagKeys.AgentStep),
            request.Provider, request.Model);
}
