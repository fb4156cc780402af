using System.Text.Json;

namespace Tollgate.Monitoring.Tests;

/// <summary>The kustomizations of config/grafana and config/prometheus, rendered by the real kustomize.</summary>
public sealed class KustomizeTests
{
    private static readonly string[] DashboardFiles = ["tollgate-budgets.json", "tollgate-latency.json", "tollgate-spend.json"];

    [Theory]
    [InlineData("Client Version: v1.20.2\nKustomize Version: v2.0.3", "has kustomize v2.0.3; config/default needs kustomize v5+")]
    [InlineData("Client Version: v1.24.0", "has kustomize of unknown version")]
    public void Kubectl_with_an_old_kustomize_is_refused_with_what_to_install(string versionOutput, string expected)
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-old-kubectl-").FullName;
        try
        {
            var kubectl = Path.Combine(directory, "kubectl");
            File.WriteAllText(kubectl, $"#!/bin/sh\nprintf '{versionOutput.Replace("\n", "\\n", StringComparison.Ordinal)}\\n'\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(kubectl, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            var refusal = TestSupport.KustomizeTool.Refusal(kubectl);
            Assert.NotNull(refusal);
            Assert.Contains(expected, refusal, StringComparison.Ordinal);
            Assert.Contains("./test.sh", refusal, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Installed_kubectl_renders_config_default()
    {
        Assert.Null(TestSupport.KustomizeTool.Refusal(TestSupport.KustomizeTool.KubectlPath));
    }

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
