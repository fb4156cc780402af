namespace Tollgate.Exporter.Aggregation;

/// <summary>Help text, type and label names of every family the exporter publishes (the metric contract, docs/architecture.md).</summary>
internal static class MetricFamilies
{
    public static readonly IReadOnlyDictionary<string, Family> All = new Dictionary<string, Family>(StringComparer.Ordinal)
    {
        ["tollgate_tokens_total"] = new("counter", "Tokens billed by the provider, by type (input, output, cache_read, cache_write, reasoning).",
            ["namespace", "team", "repo", "pipeline", "agent_step", "provider", "model", "type"]),
        ["tollgate_cost_usd_total"] = new("counter", "Cost of metered requests in US dollars at catalog list prices.",
            ["namespace", "team", "repo", "pipeline", "agent_step", "provider", "model"]),
        ["tollgate_cache_saved_usd_total"] = new("counter", "Cost of the provider calls that cache hits avoided, in US dollars.",
            ["namespace", "team", "repo", "pipeline", "agent_step", "provider", "model"]),
        ["tollgate_requests_total"] = new("counter", "Requests seen by the meters, by outcome.",
            ["namespace", "team", "repo", "provider", "model", "outcome"]),
        ["tollgate_prompt_latency_seconds"] = new("histogram", "Time from request to the last byte of the response, in seconds.",
            ["namespace", "team", "repo", "provider", "model", "streaming"]),
        ["tollgate_time_to_first_token_seconds"] = new("histogram", "Time from request to the first byte of a streamed response, in seconds.",
            ["namespace", "team", "repo", "provider", "model"]),
        [LabelLimits.OverflowMetric] = new("counter",
            "Usage events whose value of the label was counted as __overflow__: the label already had --max-label-values distinct values (or, for model, the name was invalid).",
            ["label"]),
        [Streaming.UsageStreamConsumer.RejectedMetric] = new("counter",
            "Usage stream entries refused as invalid (acknowledged, copied to the dead-letter stream, never counted), by reason.",
            ["reason"]),
    };

    public static double[] BucketsOf(string metric) =>
        metric == "tollgate_prompt_latency_seconds" ? UsageAggregate.LatencyBuckets : UsageAggregate.TtftBuckets;

    internal sealed record Family(string Type, string Help, string[] Labels);
}
