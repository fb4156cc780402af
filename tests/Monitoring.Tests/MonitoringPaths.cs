namespace Tollgate.Monitoring.Tests;

/// <summary>Where the monitoring configuration lives in the repository.</summary>
internal static class MonitoringPaths
{
    public static string Prometheus => Path.Combine(RepositoryPaths.Root(), "config", "prometheus");

    public static string RulesFile => Path.Combine(Prometheus, "tollgate-rules.yaml");

    public static string PrometheusRuleFile => Path.Combine(Prometheus, "prometheusrule.yaml");

    public static string RuleTests => Path.Combine(Prometheus, "tests");

    public static string Runbook => Path.Combine(Prometheus, "RUNBOOK.md");

    public static string AlertmanagerConfig => Path.Combine(RepositoryPaths.Root(), "config", "alertmanager", "alertmanager.yaml");

    public static string Grafana => Path.Combine(RepositoryPaths.Root(), "config", "grafana");

    public static IReadOnlyList<string> RuleTestFiles => [.. Directory.GetFiles(RuleTests, "*.yaml").Order(StringComparer.Ordinal)];
}
