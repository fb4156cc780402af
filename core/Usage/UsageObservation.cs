namespace Tollgate.Core.Usage;

/// <summary>What a response said about its own usage.</summary>
/// <param name="Model">The model the provider reports having served, when it said so.</param>
/// <param name="Usage">Tokens by type as the provider reported them (the latest value of each field).</param>
/// <param name="ReportedByProvider">False when the response ended before the provider reported usage.</param>
/// <param name="DeltaEvents">Streamed events that carried content; the basis of an estimate for abandoned streams.</param>
public sealed record UsageObservation(string? Model, TokenUsage Usage, bool ReportedByProvider, int DeltaEvents);
