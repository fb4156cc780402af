using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Tollgate.Monitoring.Tests;

/// <summary>
/// The monitoring path end to end with real processes (see <see cref="EndToEndEnvironment"/>): spend through a meter
/// reaches Redis, the meter's and the exporter's /metrics, Prometheus and its rules, Alertmanager and a receiver; and
/// every Grafana panel query finds data in that Prometheus.
/// </summary>
public sealed partial class EndToEndTests(EndToEndEnvironment environment, ITestOutputHelper output) : IClassFixture<EndToEndEnvironment>
{
    private const string ThresholdAlert = "TollgateBudgetThreshold";

    // Grafana's $job is a single choice; each query runs once per source (the exporter is the dashboards' default).
    private static readonly string[] Jobs = [EndToEndEnvironment.ExporterJob, EndToEndEnvironment.MeterJob];

    /// <summary>Panels allowed to show no data in this scenario, with the reason. None is needed today.</summary>
    private static readonly Dictionary<string, string> Exclusions = new(StringComparer.Ordinal);

    // A query can lag the traffic by a scrape and a rule evaluation; failures are retried this long before they count.
    private static readonly TimeSpan QuerySettleTime = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Budget_thresholds_are_notified_once_each_in_order()
    {
        await environment.RunScenarioAsync();
        WriteLog();

        output.WriteLine(string.Empty);
        output.WriteLine("threshold  used  crossed (UTC)   crossing -> Prometheus  crossing -> notification");
        foreach (var c in environment.Crossings)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{c.Threshold,9}  {c.UsedRatio,4:P0}  {c.CrossedAt:HH:mm:ss.fff}    {(c.SeenAt - c.CrossedAt).TotalMilliseconds,17:F0} ms  {(c.NotifiedAt is { } n ? $"{(n - c.CrossedAt).TotalMilliseconds,19:F0} ms" : "        not notified")}"));
        }

        output.WriteLine(string.Empty);
        output.WriteLine("notifications received:");
        foreach (var alert in environment.Notifications)
        {
            output.WriteLine("  " + alert);
        }

        Assert.Empty(environment.Webhook.Malformed);

        // Rule evaluation and notification failures are logged as warnings or errors; there must be none.
        var complaints = environment.ProcessLogs.Split('\n').Where(l => l.Contains("level=warn", StringComparison.Ordinal) || l.Contains("level=error", StringComparison.Ordinal)).ToList();
        Assert.True(complaints.Count == 0, "Prometheus or Alertmanager complained:\n" + string.Join('\n', complaints));
        var aboutBudgets = environment.Notifications
            .Where(a => a.Label("budget") is EndToEndEnvironment.TokenBudget or EndToEndEnvironment.DollarBudget).ToList();
        var firstArrivals = new List<(int Threshold, DateTimeOffset At)>();
        foreach (var crossing in environment.Crossings)
        {
            var threshold = crossing.Threshold.ToString(CultureInfo.InvariantCulture);
            var receiver = crossing.Threshold == 100 ? "budget-exhausted" : "budget-slack";
            var alerts = aboutBudgets.Where(a => a.Label("alertname") == ThresholdAlert && a.Label("budget") == EndToEndEnvironment.TokenBudget && a.Label("threshold") == threshold).ToList();

            Assert.True(alerts.Count > 0, $"threshold {threshold} was never notified:\n{Describe(environment.Notifications)}\n{environment.ProcessLogs}");
            Assert.All(alerts, a => Assert.Equal("firing", a.Status));
            Assert.All(alerts, a => Assert.Equal(receiver, a.Receiver));

            // Exactly once on every integration of the receiver (budget-exhausted has Slack and mail).
            Assert.Equal(
                environment.Integrations[receiver].Order(StringComparer.Ordinal),
                alerts.Select(a => a.Integration).Order(StringComparer.Ordinal));
            var first = alerts.Min(a => a.ReceivedAt);
            Assert.True(first >= crossing.CrossedAt, $"threshold {threshold} was notified at {first:O}, before spend crossed it at {crossing.CrossedAt:O}");
            firstArrivals.Add((crossing.Threshold, first));
        }

        Assert.Equal([75, 90, 95, 100], environment.Crossings.Select(c => c.Threshold));
        Assert.Equal([75, 90, 95, 100], firstArrivals.OrderBy(f => f.At).Select(f => f.Threshold));

        // Nothing else about the budgets: no second threshold notification, no resolution, no forecast alert.
        var expected = aboutBudgets.Where(a => a.Label("alertname") == ThresholdAlert && a.Label("budget") == EndToEndEnvironment.TokenBudget
            && environment.Crossings.Any(c => c.Threshold.ToString(CultureInfo.InvariantCulture) == a.Label("threshold"))).ToList();
        Assert.True(aboutBudgets.Count == expected.Count,
            $"unexpected notifications about the budgets:\n{Describe(aboutBudgets.Except(expected))}");
        Assert.True(DateTimeOffset.UtcNow - environment.Crossings[^1].NotifiedAt >= EndToEndEnvironment.QuietPeriod,
            "the test did not listen long enough after the last threshold for a repeat to show");
    }

    [Fact]
    public async Task Every_dashboard_panel_query_returns_data()
    {
        await environment.RunScenarioAsync();
        var prometheus = environment.Prometheus;

        // The check itself must catch a panel that reads a metric nobody publishes, even behind "or vector(0)".
        Assert.NotNull((await CheckAsync(prometheus, "count(tollgate_metric_nobody_publishes{job=~\".*\"}) or vector(0)")).Problem);

        // Each distinct expanded query once: meter-only queries name their job and read the same for both sources.
        var runs = new List<(string Dashboard, string Panel, string Job, string Query)>();
        foreach (var (dashboard, panel, expr) in DashboardQueries.All(MonitoringPaths.Grafana))
        {
            if (Exclusions.TryGetValue($"{dashboard} / {panel}", out var reason))
            {
                output.WriteLine($"excluded: {dashboard} / {panel}: {reason}");
                continue;
            }

            foreach (var job in Jobs)
            {
                var query = Expand(expr, job);
                if (!runs.Any(r => r.Query == query))
                {
                    runs.Add((dashboard, panel, query == Expand(expr, "other-job") ? "any" : job, query));
                }
            }
        }

        var problems = new Dictionary<int, string>();
        var results = new Dictionary<int, IReadOnlyList<PromSample>>();
        var clock = Stopwatch.StartNew();
        var pending = Enumerable.Range(0, runs.Count).ToList();
        while (true)
        {
            foreach (var i in pending)
            {
                var (samples, problem) = await CheckAsync(prometheus, runs[i].Query);
                results[i] = samples;
                if (problem is null)
                {
                    problems.Remove(i);
                }
                else
                {
                    problems[i] = problem;
                }
            }

            pending = [.. problems.Keys];
            if (pending.Count == 0 || clock.Elapsed > QuerySettleTime)
            {
                break;
            }

            await Task.Delay(1000);
        }

        output.WriteLine($"{runs.Count} queries ({DashboardQueries.All(MonitoringPaths.Grafana).Count} panel targets × sources, duplicates removed):");
        for (var i = 0; i < runs.Count; i++)
        {
            var (dashboard, panel, job, query) = runs[i];
            var status = problems.TryGetValue(i, out var problem) ? "FAIL " + problem : $"ok, {results[i].Count} series, e.g. {results[i].FirstOrDefault(s => double.IsFinite(s.Value))}";
            output.WriteLine($"  {dashboard} / {panel} [{job}]: {status}");
        }

        Assert.True(problems.Count == 0,
            $"{problems.Count} dashboard queries return no data:\n"
            + string.Join('\n', problems.Select(p => $"{runs[p.Key].Dashboard} / {runs[p.Key].Panel} [{runs[p.Key].Job}]: {p.Value}\n    {runs[p.Key].Query}")));
    }

    /// <summary>
    /// Null when the query returns at least one finite value and every selector in it selects series (a query can
    /// return data without them: <c>count(x) or vector(0)</c> answers 0 when no one publishes <c>x</c>).
    /// </summary>
    private static async Task<(IReadOnlyList<PromSample> Samples, string? Problem)> CheckAsync(PrometheusProcess prometheus, string query)
    {
        IReadOnlyList<PromSample> samples;
        try
        {
            samples = await prometheus.QueryAsync(query);
        }
        catch (InvalidOperationException e)
        {
            return ([], e.Message);
        }

        if (samples.Count == 0)
        {
            return (samples, "empty result");
        }

        if (!samples.Any(s => double.IsFinite(s.Value)))
        {
            return (samples, "no finite value: " + string.Join("; ", samples));
        }

        foreach (var selector in PromQl.Selectors(query))
        {
            var text = $"{selector.Metric}{{{selector.Matchers}}}";
            if ((await prometheus.QueryAsync($"count({text})")).Count == 0)
            {
                return (samples, $"{text} selects no series");
            }
        }

        return (samples, null);
    }

    /// <summary>Grafana's variables as a dashboard viewer would have them: one source job, All (<c>.*</c>) for the rest.</summary>
    private static string Expand(string expr, string job)
    {
        var expanded = expr
            .Replace("$__rate_interval", "1m", StringComparison.Ordinal)
            .Replace("$__range", "5m", StringComparison.Ordinal)
            .Replace("$__interval", "15s", StringComparison.Ordinal)
            .Replace("${job}", job, StringComparison.Ordinal)
            .Replace("$job", job, StringComparison.Ordinal);
        expanded = Variable().Replace(expanded, ".*");
        Assert.DoesNotContain("$", expanded, StringComparison.Ordinal);
        return expanded;
    }

    private void WriteLog()
    {
        foreach (var line in environment.Log)
        {
            output.WriteLine(line);
        }
    }

    private static string Describe(IEnumerable<ReceivedAlert> alerts) => string.Join('\n', alerts.Select(a => "  " + a));

    [GeneratedRegex(@"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")]
    private static partial Regex Variable();
}
