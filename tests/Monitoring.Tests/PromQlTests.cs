namespace Tollgate.Monitoring.Tests;

/// <summary>The PromQL name finder the dashboard and rule checks rely on: a blind spot there would pass anything.</summary>
public sealed class PromQlTests
{
    [Theory]
    [InlineData("sum(up)", "up")]
    [InlineData("tollgate_ledger_ready == 0", "tollgate_ledger_ready")]
    [InlineData("a{job=\"x\"} / on (job) group_left (team) b", "b")]
    [InlineData("y offset 1h > 2e3", "y")]
    [InlineData("histogram_quantile(0.95, sum by (le) (rate(x_bucket{job=~\"$job\"}[$__rate_interval])))", "")]
    [InlineData("count(x{a=\"b\"} == 0) or vector(0)", "")]
    [InlineData("sum by (team) (namespace_team:tollgate_cost_usd:increase1d{job=~\"$job\"}) * 3600", "")]
    [InlineData("label_replace(z{job=\"a\"}, \"dst\", \"$1\", \"src\", \"(.*)\")", "")]
    public void Bare_metric_names_are_those_outside_selectors(string expr, string expected)
    {
        Assert.Equal(expected.Split(',', StringSplitOptions.RemoveEmptyEntries), PromQl.BareMetrics(expr).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Selectors_keep_the_metric_and_its_matchers()
    {
        var selectors = PromQl.Selectors("sum(rate(a_total{job=~\"$job\", team=~\"$team\"}[5m])) / sum(ns:b:rate1h{job=\"m\"})");

        Assert.Equal([new Selector("a_total", "job=~\"$job\", team=~\"$team\""), new Selector("ns:b:rate1h", "job=\"m\"")], selectors);
    }

    [Fact]
    public void Histogram_series_belong_to_their_contract_family()
    {
        Assert.Equal("tollgate_prompt_latency_seconds", MetricContract.Family("tollgate_prompt_latency_seconds_bucket"));
        Assert.True(MetricContract.IsPublished("tollgate_meter_overhead_seconds_count"));
        Assert.False(MetricContract.IsPublished("tollgate_meter_overhead_seconds"));
        Assert.False(MetricContract.IsPublished("tollgate_cost_usd_total_bucket"));
        Assert.True(MetricContract.IsMeterOnly("tollgate_meter_overhead_seconds_bucket"));
    }
}
