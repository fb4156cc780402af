using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tollgate.Monitoring.Tests;

/// <summary>The Grafana dashboards in config/grafana: their queries, variables and shape.</summary>
public sealed partial class DashboardTests
{
    private const string JobFilter = "job=~\"$job\"";
    private const string MeterJobFilter = "job=\"tollgate-meter\"";

    private static readonly string[] Dashboards = ["tollgate-budgets", "tollgate-latency", "tollgate-spend"];

    private static readonly HashSet<string> PanelTypes = new(StringComparer.Ordinal) { "timeseries", "stat", "bargauge", "table" };

    public static TheoryData<string> DashboardUids() => [.. Dashboards];

    [Fact]
    public void The_three_dashboards_exist_and_have_panels()
    {
        var panels = DashboardQueries.Panels(MonitoringPaths.Grafana);

        Assert.Equal(Dashboards, DashboardQueries.DashboardFiles(MonitoringPaths.Grafana).Select(Path.GetFileNameWithoutExtension));
        Assert.All(Dashboards, uid => Assert.True(panels.Count(p => p.Dashboard == uid) >= 5, $"{uid} has fewer than 5 panels"));
    }

    [Fact]
    public void Every_panel_has_a_query_and_a_supported_type()
    {
        var panels = DashboardQueries.Panels(MonitoringPaths.Grafana);

        Assert.All(panels, panel =>
        {
            Assert.True(panel.Exprs.Count > 0, $"{panel.Dashboard} / {panel.Title} has no target with an expr");
            Assert.True(PanelTypes.Contains(panel.Type), $"{panel.Dashboard} / {panel.Title} is a {panel.Type} panel");
        });
    }

    [Fact]
    public void Panels_in_collapsed_rows_are_found_too()
    {
        // The spend dashboard keeps its meter-only routing panels in a collapsed row.
        Assert.Contains(DashboardQueries.All(MonitoringPaths.Grafana), q => q.Dashboard == "tollgate-spend" && q.Expr.Contains("tollgate_fallbacks_total", StringComparison.Ordinal));
    }

    [Fact]
    public void Dashboard_queries_read_only_contract_metrics_and_recording_rules()
    {
        var records = RuleFile.RecordingNames;
        var unknown = DashboardQueries.All(MonitoringPaths.Grafana)
            .SelectMany(q => PromQl.Metrics(q.Expr).Select(metric => (q.Dashboard, q.Panel, Metric: metric)))
            .Where(use => !MetricContract.IsPublished(use.Metric) && !records.Contains(use.Metric))
            .Select(use => $"{use.Dashboard} / {use.Panel}: {use.Metric}")
            .ToList();

        Assert.True(unknown.Count == 0, "queries read metrics outside the contract and the recording rules:\n" + string.Join('\n', unknown));
    }

    [Fact]
    public void Usage_queries_filter_by_the_selected_job_and_meter_only_queries_by_the_meter_job()
    {
        var problems = new List<string>();
        foreach (var (dashboard, panel, expr) in DashboardQueries.All(MonitoringPaths.Grafana))
        {
            // A bare name cannot be filtered: it would add the meters' and the exporter's copies of the same usage.
            problems.AddRange(PromQl.BareMetrics(expr).Select(metric => $"{dashboard} / {panel}: {metric} without a selector"));
            foreach (var selector in PromQl.Selectors(expr))
            {
                var filtered = MetricContract.IsMeterOnly(selector.Metric)
                    ? selector.Matchers.Contains(MeterJobFilter, StringComparison.Ordinal) || selector.Matchers.Contains(JobFilter, StringComparison.Ordinal)
                    : selector.Matchers.Contains(JobFilter, StringComparison.Ordinal);
                if (!filtered)
                {
                    problems.Add($"{dashboard} / {panel}: {selector.Metric}{{{selector.Matchers}}}");
                }
            }
        }

        Assert.True(problems.Count == 0, "queries that do not filter by job:\n" + string.Join('\n', problems));
    }

    [Fact]
    public void Usage_queries_apply_the_namespace_team_repo_and_model_filters()
    {
        var problems = new List<string>();
        foreach (var (dashboard, panel, expr) in DashboardQueries.All(MonitoringPaths.Grafana))
        {
            foreach (var selector in PromQl.Selectors(expr).Where(s => MetricContract.IsUsage(s.Metric) && !MetricContract.Family(s.Metric).StartsWith("tollgate_budget_", StringComparison.Ordinal)))
            {
                var missing = new[] { "namespace", "team", "repo", "model" }
                    .Where(label => !selector.Matchers.Contains($"{label}=~\"${label}\"", StringComparison.Ordinal)).ToList();
                if (missing.Count > 0)
                {
                    problems.Add($"{dashboard} / {panel}: {selector.Metric} lacks {string.Join(", ", missing)}");
                }
            }
        }

        // Budget gauges carry no usage labels: they are filtered by the budget variable instead.
        foreach (var (dashboard, panel, expr) in DashboardQueries.All(MonitoringPaths.Grafana))
        {
            foreach (var selector in PromQl.Selectors(expr).Where(s => s.Metric.StartsWith("tollgate_budget_", StringComparison.Ordinal)))
            {
                if (!selector.Matchers.Contains("budget=~\"$budget\"", StringComparison.Ordinal))
                {
                    problems.Add($"{dashboard} / {panel}: {selector.Metric} lacks the budget filter");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public async Task Every_dashboard_query_parses_as_promql()
    {
        var queries = DashboardQueries.All(MonitoringPaths.Grafana);
        var rules = new StringBuilder("groups:\n  - name: dashboard-queries\n    rules:\n");
        for (var i = 0; i < queries.Count; i++)
        {
            // JSON strings are YAML double-quoted scalars; Grafana's variables become what they expand to.
            rules.Append("      - record: dashboard_query_").Append(i).Append('\n')
                .Append("        expr: ").Append(JsonSerializer.Serialize(Expand(queries[i].Expr))).Append('\n');
        }

        var directory = Directory.CreateTempSubdirectory("tollgate-dashboard-queries-");
        try
        {
            var file = Path.Combine(directory.FullName, "queries.yaml");
            await File.WriteAllTextAsync(file, rules.ToString());
            var result = await Tools.RunAsync(Tools.Promtool, ["check", "rules", file]);

            Assert.True(result.ExitCode == 0, $"{result}\nqueries:\n{string.Join('\n', queries.Select((q, i) => $"dashboard_query_{i}: {q.Dashboard} / {q.Panel}"))}");
            Assert.Contains($"SUCCESS: {queries.Count} rules found", result.Output, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(DashboardUids))]
    public void Dashboard_has_a_stable_uid_schema_39_and_the_datasource_variable_everywhere(string uid)
    {
        using var json = Load(uid);
        var root = json.RootElement;

        Assert.Equal(uid, root.GetProperty("uid").GetString());
        Assert.Equal(39, root.GetProperty("schemaVersion").GetInt32());
        Assert.Contains("tollgate", root.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        var ids = new List<int>();
        foreach (var panel in AllPanels(root.GetProperty("panels")))
        {
            ids.Add(panel.GetProperty("id").GetInt32());
            if (panel.GetProperty("type").GetString() == "row")
            {
                continue;
            }

            var title = panel.GetProperty("title").GetString();
            Assert.True(UsesDatasourceVariable(panel), $"{uid} / {title} does not use ${{datasource}}");
            Assert.All(panel.GetProperty("targets").EnumerateArray(), target => Assert.True(UsesDatasourceVariable(target), $"{uid} / {title} has a target without ${{datasource}}"));
        }

        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(DashboardUids))]
    public void Dashboard_variables_pick_the_source_and_chain_namespace_team_repo_and_model(string uid)
    {
        using var json = Load(uid);
        var variables = json.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .ToDictionary(v => v.GetProperty("name").GetString()!, v => v, StringComparer.Ordinal);

        var datasource = variables["datasource"];
        Assert.Equal("datasource", datasource.GetProperty("type").GetString());
        Assert.Equal("prometheus", datasource.GetProperty("query").GetString());

        var job = variables["job"];
        Assert.Equal("label_values(tollgate_cost_usd_total, job)", Query(job));
        Assert.Equal("tollgate-exporter", job.GetProperty("current").GetProperty("value").GetString());
        Assert.False(job.GetProperty("includeAll").GetBoolean(), "one source at a time: the meters and the exporter publish the same usage");
        Assert.Equal(1, job.GetProperty("sort").GetInt32()); // alphabetical: tollgate-exporter first when it exists

        string[] chain = ["job", "namespace", "team", "repo", "model"];
        for (var i = 1; i < chain.Length; i++)
        {
            var variable = variables[chain[i]];
            var query = Query(variable);
            Assert.Equal("query", variable.GetProperty("type").GetString());
            Assert.True(variable.GetProperty("includeAll").GetBoolean(), $"{chain[i]} has no All option");
            Assert.Equal(".*", variable.GetProperty("allValue").GetString());
            Assert.Equal($"{chain[i]})", query[(query.LastIndexOf(' ') + 1)..]);
            Assert.All(chain[..i], previous => Assert.Contains($"{previous}=~\"${previous}\"", query, StringComparison.Ordinal));
            Assert.Equal("prometheus", variable.GetProperty("datasource").GetProperty("type").GetString());
        }
    }

    [Fact]
    public void Budgets_dashboard_selects_budgets_by_a_budget_variable()
    {
        using var json = Load("tollgate-budgets");
        var budget = json.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Single(v => v.GetProperty("name").GetString() == "budget");

        Assert.Equal("label_values(tollgate_budget_limit{job=~\"$job\"}, budget)", Query(budget));
        Assert.True(budget.GetProperty("includeAll").GetBoolean());
        Assert.True(budget.GetProperty("multi").GetBoolean());
        Assert.Equal(".*", budget.GetProperty("allValue").GetString());
    }

    private static JsonDocument Load(string uid) => JsonDocument.Parse(File.ReadAllText(Path.Combine(MonitoringPaths.Grafana, uid + ".json")));

    private static IEnumerable<JsonElement> AllPanels(JsonElement panels)
    {
        foreach (var panel in panels.EnumerateArray())
        {
            yield return panel;
            if (panel.TryGetProperty("panels", out var nested))
            {
                foreach (var inner in AllPanels(nested))
                {
                    yield return inner;
                }
            }
        }
    }

    private static bool UsesDatasourceVariable(JsonElement element) =>
        element.TryGetProperty("datasource", out var datasource) && datasource.GetProperty("uid").GetString() == "${datasource}";

    // Grafana stores a Prometheus variable query as an object (newer) or a string (older); both are accepted.
    private static string Query(JsonElement variable)
    {
        var query = variable.GetProperty("query");
        return query.ValueKind == JsonValueKind.String ? query.GetString()! : query.GetProperty("query").GetString()!;
    }

    // Grafana's interval variables become durations, every other variable the All regex.
    private static string Expand(string expr)
    {
        var expanded = expr.Replace("$__rate_interval", "5m", StringComparison.Ordinal)
            .Replace("$__range", "1h", StringComparison.Ordinal)
            .Replace("$__interval", "1m", StringComparison.Ordinal);
        return Variable().Replace(expanded, ".*");
    }

    [GeneratedRegex(@"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")]
    private static partial Regex Variable();
}
