using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Tollgate.Core.Events;
using Tollgate.Core.Tagging;
using Tollgate.Exporter.OpenCost.Protocol;

namespace Tollgate.Exporter.OpenCost;

/// <summary>
/// Turns usage events into OpenCost custom costs: one response per step of the requested window, and in each one FOCUS
/// cost line per namespace × team × repo × provider/model.
/// </summary>
/// <remarks>
/// OpenCost aggregates custom costs only by zone, accountName, chargeCategory, resourceType and domain, so the
/// namespace goes into accountName (the one of those a FinOps view groups by "who") and team/repo into resourceName;
/// every tag is kept in the labels for filtering.
/// </remarks>
internal static class CustomCostBuilder
{
    public const string Domain = "tollgate";
    public const string CostSource = "ai";
    public const string ResourceType = "ai-tokens";
    public const string UsageUnit = "tokens";
    public const string Version = "1";

    /// <summary>A step of the request: [Start, End).</summary>
    public readonly record struct Window(DateTimeOffset Start, DateTimeOffset End);

    /// <summary>
    /// Splits [start, end) into steps of <paramref name="resolution"/> from start; the last one ends at end. A missing or
    /// non-positive resolution means one day, OpenCost's coarsest step.
    /// </summary>
    public static IReadOnlyList<Window> Split(DateTimeOffset start, DateTimeOffset end, TimeSpan resolution)
    {
        if (resolution <= TimeSpan.Zero)
        {
            resolution = TimeSpan.FromDays(1);
        }

        var windows = new List<Window>();
        // Compared by distance to the end, so a window ending near year 9999 never adds past DateTimeOffset.MaxValue.
        for (var from = start; from < end;)
        {
            var to = end - from > resolution ? from + resolution : end;
            windows.Add(new Window(from, to));
            from = to;
        }

        return windows;
    }

    public static CustomCostResponse Response(Window window, string currency, IEnumerable<UsageEvent> events)
    {
        var response = new CustomCostResponse
        {
            Domain = Domain,
            CostSource = CostSource,
            Version = Version,
            Currency = currency,
            Start = Timestamp.FromDateTimeOffset(window.Start),
            End = Timestamp.FromDateTimeOffset(window.End),
        };

        var groups = new Dictionary<(string Namespace, string Team, string Repo, string Provider, string Model), Group>();
        foreach (var e in events)
        {
            // Decimal: a window's sum of long counts could pass Int64 where a long would wrap to negative.
            var tokens = (decimal)e.Tokens.Input + e.Tokens.Output + e.Tokens.CacheRead + e.Tokens.CacheWrite + e.Tokens.Reasoning;
            // Blocked and rejected requests have events too; they cost nothing and would only add empty lines.
            if (e.CostUsd == 0m && tokens == 0)
            {
                continue;
            }

            var key = (e.Namespace, e.Tags.GetValueOrDefault(TagKeys.Team) ?? string.Empty, e.Tags.GetValueOrDefault(TagKeys.Repo) ?? string.Empty, e.Provider, e.Model);
            if (!groups.TryGetValue(key, out var group))
            {
                group = new Group();
                groups[key] = group;
            }

            group.Cost += e.CostUsd;
            group.Tokens += tokens;
            foreach (var (tag, value) in e.Tags)
            {
                if (!group.Tags.TryGetValue(tag, out var values))
                {
                    values = new SortedSet<string>(StringComparer.Ordinal);
                    group.Tags[tag] = values;
                }

                values.Add(value);
            }
        }

        foreach (var ((ns, team, repo, provider, model), group) in groups.OrderBy(g => g.Key))
        {
            var cost = (float)group.Cost;
            var resourceName = $"{OrDash(team)}/{OrDash(repo)}";
            var custom = new CustomCost
            {
                AccountName = ns,
                ChargeCategory = "Usage",
                Description = $"{model} tokens for {resourceName} in {OrDash(ns)}",
                ResourceName = resourceName,
                ResourceType = ResourceType,
                Id = Id(window, ns, team, repo, provider, model),
                ProviderId = $"{provider}/{model}",
                // The meter prices at list price and knows of no discounts, so what was billed is the list cost.
                BilledCost = cost,
                ListCost = cost,
                ListUnitPrice = group.Tokens == 0 ? 0f : (float)(group.Cost / group.Tokens),
                UsageQuantity = (float)group.Tokens,
                UsageUnit = UsageUnit,
                ExtendedAttributes = new CustomCostExtendedAttributes
                {
                    BillingPeriodStart = Timestamp.FromDateTimeOffset(window.Start),
                    BillingPeriodEnd = Timestamp.FromDateTimeOffset(window.End),
                    ChargeFrequency = "Usage-Based",
                    Provider = provider,
                    Publisher = provider,
                    ServiceCategory = "AI and Machine Learning",
                    ServiceName = model,
                    PricingQuantity = (float)group.Tokens,
                    PricingUnit = UsageUnit,
                },
            };

            // A tag with several values in one line (two pipelines of the same repo) lists them all, sorted.
            foreach (var (tag, values) in group.Tags)
            {
                custom.Labels[tag] = string.Join(',', values);
            }

            custom.Labels["namespace"] = ns;
            custom.Labels[TagKeys.Team] = team;
            custom.Labels[TagKeys.Repo] = repo;
            custom.Labels["provider"] = provider;
            custom.Labels["model"] = model;
            response.Costs.Add(custom);
        }

        return response;
    }

    private static string OrDash(string value) => value.Length == 0 ? "-" : value;

    // Stable across calls, so OpenCost sees the same line again when it re-queries a window rather than a new cost.
    private static string Id(Window window, string ns, string team, string repo, string provider, string model)
    {
        var text = string.Join('\u001f', window.Start.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), window.End.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ns, team, repo, provider, model);
        return "tollgate-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 16));
    }

    private sealed class Group
    {
        public decimal Cost { get; set; }

        public decimal Tokens { get; set; }

        public SortedDictionary<string, SortedSet<string>> Tags { get; } = new(StringComparer.Ordinal);
    }
}
