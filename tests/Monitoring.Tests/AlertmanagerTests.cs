using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tollgate.Monitoring.Tests;

/// <summary>config/alertmanager/alertmanager.yaml, checked by amtool and by a real Alertmanager.</summary>
public sealed class AlertmanagerTests
{
    // What alertmanager.yaml's comments tell operators to run Alertmanager with.
    private const string DocumentedRetention = "745h";

    [Fact]
    public async Task Amtool_accepts_the_alertmanager_configuration()
    {
        var result = await Tools.RunAsync(Tools.Amtool, ["check-config", MonitoringPaths.AlertmanagerConfig]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("budget-slack", "alertname=TollgateBudgetThreshold", "threshold=75", "severity=info", "budget=payments-monthly")]
    [InlineData("budget-slack", "alertname=TollgateBudgetThreshold", "threshold=95", "severity=warning", "budget=payments-monthly", "scope=checkout")]
    [InlineData("budget-exhausted", "alertname=TollgateBudgetThreshold", "threshold=100", "severity=critical", "budget=payments-monthly")]
    [InlineData("budget-slack", "alertname=TollgateBudgetForecastOverLimit", "severity=warning", "budget=payments-monthly")]
    [InlineData("platform-slack", "alertname=TollgateMeterDown", "severity=critical", "instance=10.1.0.7:9464")]
    [InlineData("platform-slack", "alertname=TollgateLedgerUnavailable", "severity=critical")]
    [InlineData("platform-slack", "alertname=TollgateUnpricedModel", "severity=warning", "provider=openai", "model=gpt-9")]
    [InlineData("default-webhook", "alertname=KubePodCrashLooping", "severity=warning")]
    public async Task Alerts_are_routed_to_the_intended_receiver(string receiver, params string[] labels)
    {
        var result = await Tools.RunAsync(Tools.Amtool,
            ["config", "routes", "test", $"--config.file={MonitoringPaths.AlertmanagerConfig}", $"--verify.receivers={receiver}", .. labels]);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public void Budget_thresholds_are_grouped_per_budget_scope_and_threshold_and_notified_once_per_period()
    {
        var config = Yaml.LoadFile(MonitoringPaths.AlertmanagerConfig);
        var root = config.Required("route");
        var thresholds = root.Required("routes").Items()
            .Single(r => r.Get("matchers").Items().Any(m => m.Text() == "alertname = \"TollgateBudgetThreshold\""));

        Assert.Equal(["alertname", "budget", "scope", "threshold"], root.Required("group_by").Items().Select(i => i.Text()));
        Assert.Null(thresholds.Get("group_by"));
        Assert.True(Yaml.Duration(thresholds.Required("repeat_interval").Text()!) >= TimeSpan.FromDays(31), "a threshold must not repeat within a month");
        Assert.True(Yaml.Duration(thresholds.Required("group_wait").Text()!) <= TimeSpan.FromSeconds(30), "threshold news should not wait");
        Assert.True(Yaml.Duration(DocumentedRetention) > Yaml.Duration(thresholds.Required("repeat_interval").Text()!));
        Assert.Contains($"--data.retention longer than repeat_interval ({DocumentedRetention}", File.ReadAllText(MonitoringPaths.AlertmanagerConfig), StringComparison.Ordinal);
        Assert.All(
            config.Required("receivers").Items().SelectMany(r => r.Get("slack_configs").Items()),
            slack => Assert.StartsWith("/", slack.Required("api_url_file").Text(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_higher_budget_threshold_inhibits_the_lower_ones_of_the_same_budget_scope_in_a_real_alertmanager()
    {
        await using var alertmanager = await AlertmanagerProcess.StartAsync(MonitoringPaths.AlertmanagerConfig, $"--data.retention={DocumentedRetention}");
        using var client = new HttpClient { BaseAddress = alertmanager.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var alerts = new[]
        {
            Threshold("payments-monthly", null, "75", "info"),
            Threshold("payments-monthly", null, "90", "warning"),
            Threshold("payments-monthly", null, "95", "warning"),
            Threshold("repo-daily", "checkout", "100", "critical"),
            Threshold("repo-daily", "billing", "75", "info"),
            Alert(new() { ["alertname"] = "TollgateBudgetForecastOverLimit", ["budget"] = "repo-daily", ["scope"] = "checkout", ["severity"] = "warning" }),
            Alert(new() { ["alertname"] = "TollgateBudgetForecastOverLimit", ["budget"] = "repo-daily", ["scope"] = "billing", ["severity"] = "warning" }),
        };

        using (var posted = await client.PostAsJsonAsync(new Uri("api/v2/alerts", UriKind.Relative), alerts))
        {
            Assert.True(posted.IsSuccessStatusCode, $"{posted.StatusCode}: {await posted.Content.ReadAsStringAsync()}\n{alertmanager.Log}");
        }

        var expected = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TollgateBudgetThreshold payments-monthly  75"] = "suppressed",
            ["TollgateBudgetThreshold payments-monthly  90"] = "suppressed",
            ["TollgateBudgetThreshold payments-monthly  95"] = "active",
            ["TollgateBudgetThreshold repo-daily checkout 100"] = "active",
            ["TollgateBudgetThreshold repo-daily billing 75"] = "active",
            ["TollgateBudgetForecastOverLimit repo-daily checkout "] = "suppressed",
            ["TollgateBudgetForecastOverLimit repo-daily billing "] = "active",
        };

        // The inhibitor learns of source alerts asynchronously; states settle within moments of the post.
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            states = await StatesAsync(client);
            if (expected.All(e => states.GetValueOrDefault(e.Key) == e.Value))
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), states.OrderBy(e => e.Key, StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_documented_data_retention_keeps_alertmanager_from_repeating_budget_alerts_early()
    {
        const string Warning = "repeat_interval is greater than the data retention period";

        await using (var withDefaults = await AlertmanagerProcess.StartAsync(MonitoringPaths.AlertmanagerConfig))
        {
            // The default retention (120h) forgets a notification before the 744h repeat interval: Alertmanager says so.
            Assert.Contains(Warning, withDefaults.Log, StringComparison.Ordinal);
        }

        await using var documented = await AlertmanagerProcess.StartAsync(MonitoringPaths.AlertmanagerConfig, $"--data.retention={DocumentedRetention}");
        Assert.DoesNotContain(Warning, documented.Log, StringComparison.Ordinal);
    }

    private static JsonObject Threshold(string budget, string? scope, string threshold, string severity)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["alertname"] = "TollgateBudgetThreshold",
            ["budget"] = budget,
            ["threshold"] = threshold,
            ["severity"] = severity,
            ["unit"] = "usd",
            ["period"] = "month",
        };
        if (scope is not null)
        {
            labels["scope"] = scope;
        }

        return Alert(labels);
    }

    private static JsonObject Alert(Dictionary<string, string> labels)
    {
        var labelObject = new JsonObject();
        foreach (var (name, value) in labels)
        {
            labelObject[name] = value;
        }

        var now = DateTimeOffset.UtcNow;
        return new JsonObject
        {
            ["labels"] = labelObject,
            ["annotations"] = new JsonObject { ["summary"] = "test" },
            ["startsAt"] = now.AddMinutes(-1),
            ["endsAt"] = now.AddHours(1),
        };
    }

    // "alertname budget scope threshold" → state (active, suppressed, unprocessed).
    private static async Task<Dictionary<string, string>> StatesAsync(HttpClient client)
    {
        using var document = JsonDocument.Parse(await client.GetStringAsync(new Uri("api/v2/alerts", UriKind.Relative)));
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var alert in document.RootElement.EnumerateArray())
        {
            var labels = alert.GetProperty("labels");
            string Label(string name) => labels.TryGetProperty(name, out var value) ? value.GetString() ?? string.Empty : string.Empty;
            states[$"{Label("alertname")} {Label("budget")} {Label("scope")} {Label("threshold")}"] = alert.GetProperty("status").GetProperty("state").GetString() ?? string.Empty;
        }

        return states;
    }
}
