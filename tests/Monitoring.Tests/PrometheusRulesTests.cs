using System.Text.RegularExpressions;

namespace Tollgate.Monitoring.Tests;

/// <summary>config/prometheus: the rule file, its promtool unit tests, the PrometheusRule copy and the runbook.</summary>
public sealed partial class PrometheusRulesTests
{
    public static TheoryData<string> RuleTestFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in MonitoringPaths.RuleTestFiles)
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Fact]
    public async Task Promtool_accepts_the_rule_file()
    {
        var result = await Tools.RunAsync(Tools.Promtool, ["check", "rules", MonitoringPaths.RulesFile]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(RuleTestFiles))]
    public async Task Rule_unit_tests_pass_in_promtool(string testFile)
    {
        // promtool resolves rule_files relative to the test file.
        var result = await Tools.RunAsync(Tools.Promtool, ["test", "rules", Path.Combine(MonitoringPaths.RuleTests, testFile)]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_and_recording_rule_has_a_promtool_unit_test()
    {
        var testedAlerts = new HashSet<string>(StringComparer.Ordinal);
        var testedExprs = new List<string>();
        foreach (var file in MonitoringPaths.RuleTestFiles)
        {
            var root = Yaml.LoadFile(file);
            Assert.Contains("../tollgate-rules.yaml", root.Get("rule_files").Items().Select(i => i.Text()));
            foreach (var test in root.Required("tests").Items())
            {
                testedAlerts.UnionWith(test.Get("alert_rule_test").Items().Select(t => t.Required("alertname").Text() ?? string.Empty));
                testedExprs.AddRange(test.Get("promql_expr_test").Items().Select(t => t.Required("expr").Text() ?? string.Empty));
            }
        }

        var rules = RuleFile.Rules;
        var untestedAlerts = rules.Where(r => r.Alert is not null && !testedAlerts.Contains(r.Alert)).Select(r => r.Alert).Distinct().ToList();
        var untestedRecords = rules.Where(r => r.Record is not null && !testedExprs.Any(e => e.Contains(r.Record, StringComparison.Ordinal)))
            .Select(r => r.Record).ToList();

        Assert.True(untestedAlerts.Count == 0, $"alerts without a test in config/prometheus/tests: {string.Join(", ", untestedAlerts)}");
        Assert.True(untestedRecords.Count == 0, $"recording rules without a test in config/prometheus/tests: {string.Join(", ", untestedRecords)}");
    }

    [Fact]
    public void PrometheusRule_carries_exactly_the_groups_of_the_plain_rule_file()
    {
        var plain = Yaml.LoadFile(MonitoringPaths.RulesFile);
        var resource = Yaml.LoadFile(MonitoringPaths.PrometheusRuleFile);

        Assert.Equal("monitoring.coreos.com/v1", resource.Required("apiVersion").Text());
        Assert.Equal("PrometheusRule", resource.Required("kind").Text());
        Assert.Equal("tollgate", resource.Required("metadata").Required("name").Text());
        Assert.Equal("prometheus", resource.Required("metadata").Required("labels").Required("release").Text());
        Assert.Equal(["groups"], plain.Keys());
        Assert.Equal(["groups"], resource.Required("spec").Keys());
        var difference = Yaml.FirstDifference(plain.Required("groups"), resource.Required("spec").Required("groups"), "groups");
        Assert.True(difference is null, $"prometheusrule.yaml differs from tollgate-rules.yaml at {difference}");
    }

    [Fact]
    public void Budget_threshold_rules_fire_at_75_90_95_and_100_percent_with_rising_severity()
    {
        var thresholds = RuleFile.Rules.Where(r => r.Alert == "TollgateBudgetThreshold")
            .Select(r => (Threshold: r.Label("threshold"), Severity: r.Label("severity"), r.Expr, For: r.Node.Get("for").Text()))
            .ToList();

        Assert.Equal(
            [("75", "info", "0.75"), ("90", "warning", "0.9"), ("95", "warning", "0.95"), ("100", "critical", "1")],
            thresholds.Select(t => (t.Threshold, t.Severity, ComparedTo(t.Expr))).ToList());
        Assert.All(thresholds, t => Assert.Contains("max by (budget, scope, unit, period) (tollgate_budget_used_ratio)", t.Expr, StringComparison.Ordinal));
        Assert.All(thresholds, t => Assert.Equal(TimeSpan.Zero, Yaml.Duration(t.For ?? "0s")));
    }

    [Fact]
    public void Alerts_link_to_runbook_sections_that_exist()
    {
        var anchors = File.ReadAllLines(MonitoringPaths.Runbook)
            .Where(line => line.StartsWith('#'))
            .Select(line => GitHubAnchor(line.TrimStart('#').Trim()))
            .ToHashSet(StringComparer.Ordinal);

        foreach (var alert in RuleFile.Rules.Where(r => r.Alert is not null))
        {
            var url = alert.Annotation("runbook_url");
            Assert.False(string.IsNullOrEmpty(url), $"{alert.Alert} has no runbook_url");
            Assert.Contains("/config/prometheus/RUNBOOK.md#", url, StringComparison.Ordinal);
            var anchor = url![(url.IndexOf('#', StringComparison.Ordinal) + 1)..];
            Assert.True(anchors.Contains(anchor), $"{alert.Alert}: RUNBOOK.md has no section #{anchor}");
            Assert.False(string.IsNullOrEmpty(alert.Annotation("summary")), $"{alert.Alert} has no summary");
            Assert.False(string.IsNullOrEmpty(alert.Annotation("description")), $"{alert.Alert} has no description");
            Assert.False(string.IsNullOrEmpty(alert.Label("severity")), $"{alert.Alert} has no severity");
        }
    }

    [Fact]
    public void Budget_alerts_link_to_the_budgets_dashboard_with_its_budget_variable()
    {
        var budgetAlerts = RuleFile.Rules.Where(r => r.Alert?.StartsWith("TollgateBudget", StringComparison.Ordinal) == true).ToList();
        var dashboard = Path.Combine(MonitoringPaths.Grafana, "tollgate-budgets.json");
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dashboard));
        var variables = json.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => v.GetProperty("name").GetString());

        Assert.Equal(5, budgetAlerts.Count);
        Assert.All(budgetAlerts, alert => Assert.EndsWith("/d/tollgate-budgets?var-budget={{ $labels.budget }}", alert.Annotation("dashboard"), StringComparison.Ordinal));
        Assert.Equal("tollgate-budgets", json.RootElement.GetProperty("uid").GetString());
        Assert.Contains("budget", variables);
    }

    [Fact]
    public void Rules_read_only_contract_metrics_and_the_scrape_health()
    {
        var records = RuleFile.RecordingNames;
        var unknown = RuleFile.Rules
            .SelectMany(rule => PromQl.Metrics(rule.Expr).Select(metric => (rule.Name, metric)))
            .Where(use => use.metric != "up" && !MetricContract.IsPublished(use.metric) && !records.Contains(use.metric))
            .ToList();

        Assert.True(unknown.Count == 0, "rules read metrics outside the contract: " + string.Join(", ", unknown));
    }

    [Fact]
    public void Recording_rules_are_named_level_metric_operation_and_keep_the_job_apart()
    {
        var recordings = RuleFile.Rules.Where(r => r.Record is not null).ToList();

        Assert.NotEmpty(recordings);
        foreach (var rule in recordings)
        {
            var name = RecordingName().Match(rule.Record!);
            var expr = RecordingExpr().Match(rule.Expr.Trim());
            Assert.True(name.Success, $"{rule.Record} is not level:metric:operation");
            Assert.True(expr.Success, $"{rule.Record}: unexpected shape of '{rule.Expr}'");

            // level lists the labels kept besides job, metric is the source without _total, operation is the function and window.
            var kept = expr.Groups["labels"].Value.Split(',', StringSplitOptions.TrimEntries);
            Assert.Equal(["job", .. name.Groups["level"].Value.Split('_')], kept);
            Assert.Equal(name.Groups["metric"].Value + "_total", expr.Groups["source"].Value);
            Assert.Equal(name.Groups["operation"].Value, expr.Groups["function"].Value + expr.Groups["window"].Value);
        }
    }

    // The number the expression compares with, as written (">= 0.75" gives "0.75").
    private static string ComparedTo(string expr) => ComparisonConstant().Match(expr).Groups[1].Value;

    // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    private static string GitHubAnchor(string heading) =>
        AnchorDropped().Replace(heading.ToLowerInvariant(), string.Empty).Replace(' ', '-');

    [GeneratedRegex(@">=\s*([0-9.]+)\s*$")]
    private static partial Regex ComparisonConstant();

    [GeneratedRegex(@"[^a-z0-9 _-]")]
    private static partial Regex AnchorDropped();

    [GeneratedRegex(@"^(?<level>[a-z]+(_[a-z]+)*):(?<metric>tollgate_[a-z_]+):(?<operation>[a-z]+[0-9]+[smhd])$")]
    private static partial Regex RecordingName();

    [GeneratedRegex(@"^sum by \((?<labels>[a-z_, ]+)\) \((?<function>rate|increase)\((?<source>tollgate_[a-z_]+)\[(?<window>[0-9]+[smhd])\]\)\)$")]
    private static partial Regex RecordingExpr();
}
