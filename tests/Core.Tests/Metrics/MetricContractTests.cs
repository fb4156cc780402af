using Tollgate.Core.Metrics;

namespace Tollgate.Core.Tests.Metrics;

public sealed class MetricContractTests
{
    public static TheoryData<string> Families() => [.. MetricContract.Usage.Concat(MetricContract.Budgets).Append(MetricContract.LedgerReady).Select(f => f.Name)];

    private static MetricFamily Of(string name) => MetricContract.Usage.Concat(MetricContract.Budgets).Append(MetricContract.LedgerReady).Single(f => f.Name == name);

    [Theory]
    [MemberData(nameof(Families))]
    public void Every_family_follows_the_naming_rules_and_has_a_sentence_of_help(string name)
    {
        var family = Of(name);

        Assert.Matches("^tollgate_[a-z_]+$", family.Name);
        Assert.Equal(family.Type == MetricFamily.Counter, family.Name.EndsWith("_total", StringComparison.Ordinal));
        Assert.Matches(@"^[A-Z0-9].*\.$", family.Help);
        Assert.Equal(family.Labels.Count, family.Labels.Distinct(StringComparer.Ordinal).Count());
        Assert.DoesNotContain("current rate", family.Help, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Only_histograms_have_buckets_and_theirs_ascend(string name)
    {
        var family = Of(name);

        Assert.Equal(family.Type == MetricFamily.Histogram, family.Buckets.Count > 0);
        Assert.Equal(family.Buckets.Order(), family.Buckets);
        Assert.Equal(family.Buckets.Count, family.Buckets.Distinct().Count());
    }

    [Fact]
    public void The_token_types_match_the_fields_of_token_usage()
    {
        var fields = typeof(Core.Usage.TokenUsage).GetConstructors().Single(c => c.GetParameters().Length > 0).GetParameters()
            .Select(p => System.Text.RegularExpressions.Regex.Replace(p.Name!, "(?<!^)([A-Z])", "_$1").ToLowerInvariant());

        Assert.Equal(fields, MetricContract.TokenTypes);
    }

    [Theory]
    [InlineData(RequestOutcomes.Forwarded, null, true)]
    [InlineData(RequestOutcomes.UpstreamError, null, true)]
    [InlineData(RequestOutcomes.Unbilled, null, true)]
    [InlineData(RequestOutcomes.Unmetered, null, true)]
    [InlineData(RequestOutcomes.Fallback, FallbackKinds.Upstream, true)]
    [InlineData(RequestOutcomes.Fallback, FallbackKinds.BudgetModel, true)]
    [InlineData(RequestOutcomes.Fallback, FallbackKinds.BudgetResponse, false)]
    [InlineData(RequestOutcomes.Blocked, null, false)]
    [InlineData(RequestOutcomes.Cached, null, false)]
    [InlineData(RequestOutcomes.Rejected, null, false)]
    public void Latency_is_observed_exactly_for_requests_sent_to_a_provider(string outcome, string? fallback, bool observed) =>
        Assert.Equal(observed, MetricContract.ObservesLatency(outcome, fallback));
}
