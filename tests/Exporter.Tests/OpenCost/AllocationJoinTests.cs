using System.Diagnostics;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests.OpenCost;

/// <summary>
/// config/opencost/ai-cost-beside-allocation.rules.yaml, evaluated by the real promtool on synthetic series shaped like the
/// exporter's and OpenCost's: AI spend and OpenCost's namespace allocation side by side, joined on namespace.
/// </summary>
public sealed class AllocationJoinTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-opencost-rules-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task AI_cost_and_OpenCost_allocation_are_reported_per_namespace_side_by_side_with_their_total_and_AI_share()
    {
        var rules = Path.Combine(RepositoryPaths.Root(), "config", "opencost", "ai-cost-beside-allocation.rules.yaml");
        // One day of hourly samples. ci-payments: $12 of AI (two models) and $48 in the cluster (2 CPUs at $0.50 and
        // 4 GiB at $0.25 an hour); ci-ai-only: $3 of AI and nothing OpenCost sees; ci-idle: $24 in the cluster, no AI.
        // Another job's tollgate_cost_usd_total must not count.
        var test = $$"""
            rule_files:
              - {{rules}}
            evaluation_interval: 5m
            tests:
              - interval: 1h
                input_series:
                  - series: 'tollgate_cost_usd_total{job="tollgate-exporter",namespace="ci-payments",model="claude-sonnet-4-5"}'
                    values: '0+0.25x24'
                  - series: 'tollgate_cost_usd_total{job="tollgate-exporter",namespace="ci-payments",model="claude-haiku-4-5"}'
                    values: '0+0.25x24'
                  - series: 'tollgate_cost_usd_total{job="tollgate-exporter",namespace="ci-ai-only",model="gpt-4o"}'
                    values: '0+0.125x24'
                  - series: 'tollgate_cost_usd_total{job="tollgate-meter",namespace="ci-payments",model="claude-sonnet-4-5"}'
                    values: '0+100x24'
                  - series: 'container_cpu_allocation{job="opencost",namespace="ci-payments",pod="build-1",container="job",node="n1",instance="opencost:9003"}'
                    values: '2x24'
                  - series: 'container_memory_allocation_bytes{job="opencost",namespace="ci-payments",pod="build-1",container="job",node="n1",instance="opencost:9003"}'
                    values: '4294967296x24'
                  - series: 'container_cpu_allocation{job="opencost",namespace="ci-idle",pod="web-1",container="web",node="n1",instance="opencost:9003"}'
                    values: '1x24'
                  - series: 'container_memory_allocation_bytes{job="opencost",namespace="ci-idle",pod="web-1",container="web",node="n1",instance="opencost:9003"}'
                    values: '2147483648x24'
                  - series: 'node_cpu_hourly_cost{job="opencost",node="n1",instance="opencost:9003",instance_type="m5.large"}'
                    values: '0.5x24'
                  - series: 'node_ram_hourly_cost{job="opencost",node="n1",instance="opencost:9003",instance_type="m5.large"}'
                    values: '0.25x24'
                promql_expr_test:
                  - expr: namespace:tollgate_ai_cost_usd:increase1d
                    eval_time: 1d
                    exp_samples:
                      - labels: 'namespace:tollgate_ai_cost_usd:increase1d{namespace="ci-payments"}'
                        value: 12
                      - labels: 'namespace:tollgate_ai_cost_usd:increase1d{namespace="ci-ai-only"}'
                        value: 3
                  - expr: namespace:opencost_allocation_cost_usd:1d
                    eval_time: 1d
                    exp_samples:
                      - labels: 'namespace:opencost_allocation_cost_usd:1d{namespace="ci-payments"}'
                        value: 48
                      - labels: 'namespace:opencost_allocation_cost_usd:1d{namespace="ci-idle"}'
                        value: 24
                  - expr: namespace:tollgate_and_opencost_cost_usd:1d
                    eval_time: 1d
                    exp_samples:
                      - labels: 'namespace:tollgate_and_opencost_cost_usd:1d{namespace="ci-payments"}'
                        value: 60
                      - labels: 'namespace:tollgate_and_opencost_cost_usd:1d{namespace="ci-ai-only"}'
                        value: 3
                      - labels: 'namespace:tollgate_and_opencost_cost_usd:1d{namespace="ci-idle"}'
                        value: 24
                  - expr: namespace:tollgate_ai_cost_share:1d
                    eval_time: 1d
                    exp_samples:
                      - labels: 'namespace:tollgate_ai_cost_share:1d{namespace="ci-payments"}'
                        value: 0.2
                      - labels: 'namespace:tollgate_ai_cost_share:1d{namespace="ci-ai-only"}'
                        value: 1
            """;
        var testFile = Path.Combine(_directory, "join.test.yaml");
        await File.WriteAllTextAsync(testFile, test);

        var (exitCode, output) = await RunAsync(Promtool(), "test", "rules", testFile);

        Assert.True(exitCode == 0, $"promtool test rules exited with {exitCode}:\n{output}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_rules_file_passes_promtool_check()
    {
        var rules = Path.Combine(RepositoryPaths.Root(), "config", "opencost", "ai-cost-beside-allocation.rules.yaml");

        var (exitCode, output) = await RunAsync(Promtool(), "check", "rules", rules);

        Assert.True(exitCode == 0, $"promtool check rules exited with {exitCode}:\n{output}");
        Assert.Contains("4 rules found", output, StringComparison.Ordinal);
    }

    private static string Promtool() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "promtool")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("promtool is not on PATH: run ./test.sh, which installs it (apt-get install prometheus).");

    private static async Task<(int ExitCode, string Output)> RunAsync(string executable, params string[] arguments)
    {
        var info = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
