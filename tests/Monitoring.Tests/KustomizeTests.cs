using System.Text.Json;

namespace Tollgate.Monitoring.Tests;

/// <summary>The kustomizations of config/grafana and config/prometheus, rendered by the real kustomize.</summary>
public sealed class KustomizeTests
{
    private static readonly string[] DashboardFiles = ["tollgate-budgets.json", "tollgate-latency.json", "tollgate-spend.json"];

    [Fact]
    public async Task Grafana_kustomization_renders_one_dashboards_configmap_for_the_grafana_sidecar()
    {
        var result = await Tools.KustomizeAsync(MonitoringPaths.Grafana);
        Assert.True(result.ExitCode == 0, result.ToString());

        var configMap = Assert.Single(Yaml.LoadAll(result.Output));
        Assert.Equal("ConfigMap", configMap.Required("kind").Text());
        Assert.Equal("tollgate-dashboards", configMap.Required("metadata").Required("name").Text());
        Assert.Equal("1", configMap.Required("metadata").Required("labels").Required("grafana_dashboard").Text());
        var data = configMap.Required("data");
        Assert.Equal(DashboardFiles, data.Keys().Order(StringComparer.Ordinal));
        foreach (var file in DashboardFiles)
        {
            var content = data.Required(file).Text()!;
            Assert.Equal(File.ReadAllText(Path.Combine(MonitoringPaths.Grafana, file)), content);
            using var json = JsonDocument.Parse(content);
            Assert.Equal(Path.GetFileNameWithoutExtension(file), json.RootElement.GetProperty("uid").GetString());
        }
    }

    [Fact]
    public async Task Prometheus_kustomization_renders_the_prometheusrule_with_every_group()
    {
        var result = await Tools.KustomizeAsync(MonitoringPaths.Prometheus);
        Assert.True(result.ExitCode == 0, result.ToString());

        var rule = Assert.Single(Yaml.LoadAll(result.Output));
        Assert.Equal("monitoring.coreos.com/v1", rule.Required("apiVersion").Text());
        Assert.Equal("PrometheusRule", rule.Required("kind").Text());
        Assert.Equal("tollgate", rule.Required("metadata").Required("name").Text());
        Assert.Equal("prometheus", rule.Required("metadata").Required("labels").Required("release").Text());
        var difference = Yaml.FirstDifference(
            Yaml.LoadFile(MonitoringPaths.RulesFile).Required("groups"), rule.Required("spec").Required("groups"), "groups");
        Assert.True(difference is null, $"the rendered PrometheusRule differs from tollgate-rules.yaml at {difference}");
    }
}
