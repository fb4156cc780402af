namespace Tollgate.Docs.Tests.Catalog;

/// <summary>
/// The one table of every shell block README.md and config/*/README.md present: each command runs here (and which test
/// asserts what the README shows), or is skipped with the reason and the offline equivalent that runs instead.
/// <see cref="CatalogTests"/> fails on a block missing from this table, so a new or changed command must be classified.
/// </summary>
public static class DocsCatalog
{
    private const string Readme = "README.md";
    private const string OpenCostReadme = "config/opencost/README.md";
    private const string NoCluster = "kubectl against a cluster: there is no Kubernetes cluster here";

    public static IReadOnlyList<DocBlock> Blocks { get; } =
    [
        new(Readme, "# Tollgate", "dotnet run --project meter -- --policy config/samples",
        [
            Run("dotnet run --project meter -- --policy config/samples", nameof(StandaloneMeterTests.Standalone_meter_with_the_samples_serves_on_its_ports_and_journals_under_dot_tollgate)),
            Skip("./test.sh", "it is what runs this test project; running it here would recurse",
                "Operator.sln lists tests/Docs.Tests, and test.sh builds and tests Operator.sln and prints the `N passed, N failed` line",
                nameof(CatalogTests.Test_script_runs_this_project_through_the_solution)),
        ]),
        new(Readme, "## Point your tools at it", "export ANTHROPIC_BASE_URL=http://127.0.0.1:8787",
        [
            Run("export ANTHROPIC_BASE_URL=http://127.0.0.1:8787", nameof(StandaloneMeterTests.Claude_code_environment_reaches_the_meter_with_its_tags)),
            Run("""export ANTHROPIC_CUSTOM_HEADERS='X-Tollgate-Metadata: {"team":"payments","repo":"checkout","pipeline":"pr-review","agent_step":"review"}'""",
                nameof(StandaloneMeterTests.Claude_code_environment_reaches_the_meter_with_its_tags)),
            Skip("""claude -p "review this diff" """.TrimEnd(), "Claude Code is not installed here and needs an Anthropic account",
                "a Messages request to $ANTHROPIC_BASE_URL/v1/messages carrying the header line of $ANTHROPIC_CUSTOM_HEADERS, as Claude Code sends it, both read from the shell the exports ran in",
                nameof(StandaloneMeterTests.Claude_code_environment_reaches_the_meter_with_its_tags)),
        ]),
        new(Readme, "### Upstream authority, TLS and `--upstream-ca`", "dotnet run --project meter -- --upstream anthropic=https://llm-gateway.internal --upstream-ca /etc/tollgate/ca.pem",
        [
            Run("dotnet run --project meter -- --upstream anthropic=https://llm-gateway.internal --upstream-ca /etc/tollgate/ca.pem",
                nameof(MeterCommandTests.Upstream_ca_command_trusts_a_private_ca_and_stops_on_a_missing_file)),
        ]),
        new(Readme, "## A sample policy, walked through", "dotnet run --project meter -- --policy budgets.yaml",
        [
            Run("dotnet run --project meter -- --policy budgets.yaml", nameof(MeterCommandTests.Bad_policy_prints_the_documented_line_and_exits_1)),
        ]),
        new(Readme, "## Shared ledger on Redis", "dotnet run --project meter -- --policy config/samples --ledger redis://redis.tollgate.svc:6379/0",
        [
            Run("dotnet run --project meter -- --policy config/samples --ledger redis://redis.tollgate.svc:6379/0",
                nameof(SharedLedgerTests.Meter_on_redis_writes_usage_events_of_the_documented_shape)),
        ]),
        new(Readme, "## Exporter", "dotnet run --project exporter -- --ledger redis://redis.tollgate.svc:6379/0 --policy config/samples --token-file /etc/tollgate/export-token",
        [
            Run("dotnet run --project exporter -- --ledger redis://redis.tollgate.svc:6379/0 --policy config/samples --token-file /etc/tollgate/export-token",
                nameof(SharedLedgerTests.Exporter_serves_metrics_gauges_and_the_usage_api_from_the_meters_usage)),
        ]),
        new(Readme, "## Install in a cluster (operator)", "docker build --target operator -t tollgate/operator .     # also --target exporter, --target meter; push to your registry",
        [
            Skip("docker build --target operator -t tollgate/operator .     # also --target exporter, --target meter; push to your registry",
                "no Docker engine here (the docker client finds no daemon)",
                "the Dockerfile's build-stage `dotnet publish` commands, run as written with /out redirected and --no-build (the solution build made the same Release binaries), and the published entry points named by each target's ENTRYPOINT",
                nameof(ClusterInstallTests.Dockerfile_build_stage_publishes_what_every_target_starts)),
            Skip("kubectl apply -f crds/ && kubectl wait --for condition=established crd/aibudgets.tollgate.io crd/airoutingrules.tollgate.io", NoCluster,
                "crds/ holds a CustomResourceDefinition for every crd/<name> the wait names",
                nameof(ClusterInstallTests.Crds_folder_defines_the_crds_the_wait_names)),
            Skip("kubectl apply -k config/default                            # namespace, CRDs, RBAC, operator, exporter, Redis, webhook, rules, dashboards, samples", NoCluster,
                "kubectl kustomize config/default renders, with every kind the comment lists",
                nameof(ClusterInstallTests.Default_kustomization_renders_everything_the_comment_lists)),
            Skip("kubectl label namespace ci-payments tollgate.io/meter=enabled", NoCluster,
                "the rendered pod webhook selects namespaces by exactly this label",
                nameof(ClusterInstallTests.Webhook_selects_namespaces_by_the_documented_label)),
            Skip("kubectl -n tollgate-system create secret generic tollgate-provider-keys --from-literal=anthropic=sk-ant-… --from-literal=openai=sk-…", NoCluster,
                "the same command with --dry-run=client -o json, which kubectl runs offline; its namespace, Secret name and keys are the ones the key broker reads in the default (broker) mode",
                nameof(ClusterInstallTests.Provider_secret_command_makes_the_secret_the_key_broker_reads)),
            Skip("kubectl get aibudgets", NoCluster + "; the fake Kubernetes API serves neither discovery nor the server-side Table kubectl get asks for",
                "the README's columns against the AiBudget CRD's printer columns (NAME, the priority-0 columns, AGE)",
                nameof(ClusterInstallTests.Get_aibudgets_output_has_the_crds_printer_columns)),
        ]),
        Output(Readme, "## Install in a cluster (operator)", "NAME                        LIMIT   SPENT   USED   FORECAST   STATE     AGE", "kubectl get aibudgets",
            nameof(ClusterInstallTests.Get_aibudgets_output_has_the_crds_printer_columns)),
        Output(Readme, "## Install in a cluster (operator)", """API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"Repository \"transaction-service\" has exhausted its daily $50 AI budget; refused at 14:32 UTC, it resets at 2026-12-04 00:00 UTC.","tollgate_type":"budget_exceeded"},"rule_id":"transaction-service-daily","detail":"…","mitigation":"Review pipeline logs for loops or request a quota increase via #platform-help.","dashboard":"https://grafana.example.com/d/tollgate-budgets?var-budget=transaction-service-daily","request_id":"0193a8c1…"}""",
            "a Claude Code job over its budget (Claude Code prints `API Error: <status> <body>`)",
            nameof(StandaloneMeterTests.Spent_sample_budget_answers_the_documented_429_bodies)),
        new(Readme, "## Backtest, recommend and simulate: tune budgets before enforcing them", "dotnet run --project cli -- simulate --scenario config/scenarios/ci-review-agent.yaml --seed 1 --out usage.jsonl [--days 28]",
        [
            Run("dotnet run --project cli -- simulate --scenario config/scenarios/ci-review-agent.yaml --seed 1 --out usage.jsonl [--days 28]",
                nameof(AuditCommandTests.Simulate_backtest_and_recommend_run_as_documented)),
            Run("dotnet run --project cli -- backtest --policy config/samples --usage usage.jsonl [--from 2026-11-02 --to 2026-11-16] [--json] [--strict]",
                nameof(AuditCommandTests.Simulate_backtest_and_recommend_run_as_documented)),
            Run("dotnet run --project cli -- recommend --usage usage.jsonl --by team [--period week] [--headroom -20%] > budgets.yaml",
                nameof(AuditCommandTests.Simulate_backtest_and_recommend_run_as_documented)),
            Skip("kubectl apply -f budgets.yaml     # or: dotnet run --project meter -- --policy budgets.yaml", NoCluster,
                "the line's own alternative, dotnet run --project meter -- --policy budgets.yaml: the meter loads the recommended budgets and publishes their limits",
                nameof(AuditCommandTests.Recommended_budgets_load_into_the_meter)),
        ]),
        new(Readme, "## Command line", "dotnet run --project meter -- [options]",
        [
            Run("dotnet run --project meter -- [options]", nameof(MeterCommandTests.Command_line_block_lists_the_meters_options_and_defaults)),
        ]),
        new(OpenCostReadme, "## How OpenCost runs it", "PLUGIN_NAME=tollgate $PLUGIN_EXECUTABLE_DIR/tollgate.ocplugin.linux.amd64 $PLUGIN_CONFIG_DIR/tollgate_config.json",
        [
            Run("PLUGIN_NAME=tollgate $PLUGIN_EXECUTABLE_DIR/tollgate.ocplugin.linux.amd64 $PLUGIN_CONFIG_DIR/tollgate_config.json",
                nameof(OpenCostPluginTests.OpenCost_launch_line_starts_the_installed_script_as_a_plugin)),
        ]),
        new(OpenCostReadme, "## How OpenCost runs it", "PLUGIN_NAME=tollgate dotnet exporter/bin/Release/net10.0/Tollgate.Exporter.dll opencost-plugin config/opencost/tollgate_config.json",
        [
            Run("PLUGIN_NAME=tollgate dotnet exporter/bin/Release/net10.0/Tollgate.Exporter.dll opencost-plugin config/opencost/tollgate_config.json",
                nameof(OpenCostPluginTests.Plugin_by_hand_prints_the_handshake_and_refuses_without_the_cookie)),
        ]),
        new(OpenCostReadme, "## Install", "dotnet publish exporter/Exporter.csproj -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true -o out",
        [
            Skip("dotnet publish exporter/Exporter.csproj -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true -o out",
                "a self-contained publish downloads the linux-x64 runtime packs (not in the local package cache) and rebuilds every project for that runtime: minutes, not seconds",
                "the Release build's own framework-dependent apphost copied to out/Tollgate.Exporter with its assemblies, so the next line's rename runs on a real executable",
                nameof(OpenCostPluginTests.Renamed_executable_is_the_plugin_with_the_config_as_its_only_argument)),
            Run("mv out/Tollgate.Exporter out/tollgate.ocplugin.linux.amd64", nameof(OpenCostPluginTests.Renamed_executable_is_the_plugin_with_the_config_as_its_only_argument)),
        ]),
    ];

    private static RunVerdict Run(string command, string test) => new(command, test);

    private static SkipVerdict Skip(string command, string reason, string equivalent, string test) => new(command, reason, equivalent, test);

    private static DocBlock Output(string file, string heading, string firstLine, string outputOf, string test) => new(file, heading, firstLine, [], outputOf, test);
}
