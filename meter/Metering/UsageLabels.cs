namespace Tollgate.Meter.Metering;

/// <summary>The bounded label values of one request. High-cardinality tags (user, PR number) are never labels.</summary>
internal readonly record struct UsageLabels(string Namespace, string Team, string Repo, string Pipeline, string AgentStep, string Provider, string Model);
