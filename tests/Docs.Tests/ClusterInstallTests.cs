using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Docs.Tests.Running;
using Tollgate.Operator.Hosting;
using Tollgate.Operator.KeyBroker;
using Tollgate.Operator.Webhooks;
using YamlDotNet.RepresentationModel;

namespace Tollgate.Docs.Tests;

/// <summary>
/// "Install in a cluster": no Docker engine and no cluster here, so each command's offline equivalent runs instead
/// (see the reasons in DocsCatalog). kubectl runs with a kubeconfig that does not exist, so it can never reach a real cluster.
/// </summary>
public sealed partial class ClusterInstallTests
{
    private const string Heading = "## Install in a cluster (operator)";
    private static readonly IReadOnlyDictionary<string, string> NoKubeconfig = new Dictionary<string, string> { ["KUBECONFIG"] = "/nonexistent/tollgate-docs-kubeconfig" };

    [Fact]
    public async Task Dockerfile_build_stage_publishes_what_every_target_starts()
    {
        var docker = Command(0);
        var documented = TargetOption().Matches(docker).Select(m => m.Groups["target"].Value).ToList();
        Assert.Equal(["operator", "exporter", "meter"], documented);

        // Every image target is checked, the documented ones and any other (cli, the offline tools), one publish each.
        var dockerfile = Dockerfile.Read(Path.Combine(Repo.Root, "Dockerfile"));
        var targets = dockerfile.Stages.Keys.Where(stage => stage != "build").ToList();
        Assert.Superset(documented.ToHashSet(StringComparer.Ordinal), targets.ToHashSet(StringComparer.Ordinal));
        using var output = new TempFolder();
        var publish = dockerfile.BuildStageCommands.Where(c => c.StartsWith("dotnet publish ", StringComparison.Ordinal)).ToList();
        Assert.Equal(targets.Count, publish.Count);
        foreach (var command in publish)
        {
            // As the build stage runs them from the repository root (/src), with /out moved to a temporary folder, and with
            // --no-build: the solution build compiled the same Release configuration, and building again with
            // UseAppHost=false would take the apphost out of the shared bin folders other tests start.
            var (code, process) = await ShellProcess.RunAsync(new ShellCommand(command).Rewrite(" /out/", $" {output.Path}/").Append("--no-build"), Repo.Root, timeoutSeconds: 120);
            Assert.True(code == 0, $"{command}\n{process.StandardOutput}\n{process.StandardError}");
        }

        foreach (var target in targets)
        {
            var stage = dockerfile.Stages[target];
            var from = Regex.Match(stage, @"COPY --from=build /out/(?<folder>\S+) /app/").Groups["folder"].Value;
            var entry = Regex.Match(stage, @"ENTRYPOINT \[""dotnet"", ""/app/(?<dll>[^""]+)""\]").Groups["dll"].Value;
            Assert.True(File.Exists(Path.Combine(output.Path, from, entry)), $"target {target} starts /app/{entry}, which /out/{from} lacks");
            Assert.True(File.Exists(Path.Combine(output.Path, from, Path.ChangeExtension(entry, ".runtimeconfig.json"))));
        }
    }

    [Fact]
    public void Crds_folder_defines_the_crds_the_wait_names()
    {
        var waited = Regex.Matches(Command(1), @"crd/(?<name>\S+)").Select(m => m.Groups["name"].Value).ToList();
        Assert.Equal(["aibudgets.tollgate.io", "airoutingrules.tollgate.io"], waited);
        var defined = Directory.GetFiles(Path.Combine(Repo.Root, "crds"), "*.yaml")
            .SelectMany(Yaml.Documents)
            .Where(d => Yaml.Scalar(d, "kind") == "CustomResourceDefinition")
            .Select(d => Yaml.Scalar(d, "metadata", "name"))
            .ToList();
        Assert.Superset(waited.ToHashSet(), defined.ToHashSet()!);
    }

    [Fact]
    public async Task Default_kustomization_renders_everything_the_comment_lists()
    {
        var documents = await RenderDefaultAsync();
        var objects = documents.Select(d => (Kind: Yaml.Scalar(d, "kind"), Name: Yaml.Scalar(d, "metadata", "name") ?? string.Empty)).ToList();

        // "# namespace, CRDs, RBAC, operator, exporter, Redis, webhook, rules, dashboards, samples"
        Assert.Equal("namespace, CRDs, RBAC, operator, exporter, Redis, webhook, rules, dashboards, samples", Command(2)[(Command(2).IndexOf('#', StringComparison.Ordinal) + 1)..].Trim());
        Assert.Contains(objects, o => o.Kind == "Namespace");
        Assert.Contains(objects, o => o is { Kind: "CustomResourceDefinition", Name: "aibudgets.tollgate.io" });
        Assert.Contains(objects, o => o is { Kind: "CustomResourceDefinition", Name: "airoutingrules.tollgate.io" });
        Assert.Contains(objects, o => o.Kind == "ClusterRole");
        Assert.Contains(objects, o => o.Kind == "ClusterRoleBinding");
        Assert.Contains(objects, o => o.Kind == "Deployment" && o.Name.Contains("operator", StringComparison.Ordinal));
        Assert.Contains(objects, o => o.Kind == "Deployment" && o.Name.Contains("exporter", StringComparison.Ordinal));
        Assert.Contains(objects, o => o.Kind == "StatefulSet" && o.Name.Contains("redis", StringComparison.Ordinal));
        Assert.Contains(objects, o => o.Kind == "MutatingWebhookConfiguration");
        Assert.Contains(objects, o => o.Kind == "PrometheusRule");
        Assert.Contains(objects, o => o is { Kind: "ConfigMap", Name: "tollgate-dashboards" });
        Assert.Contains(objects, o => o.Kind == "AiBudget");
        Assert.Contains(objects, o => o.Kind == "AiRoutingRule");
    }

    [Fact]
    public async Task Webhook_selects_namespaces_by_the_documented_label()
    {
        var label = Regex.Match(Command(3), @"^kubectl label namespace \S+ (?<key>[^=\s]+)=(?<value>\S+)$");
        Assert.True(label.Success, Command(3));
        var webhooks = (await RenderDefaultAsync()).Where(d => Yaml.Scalar(d, "kind") == "MutatingWebhookConfiguration").ToList();
        var selectors = webhooks.SelectMany(w => ((YamlSequenceNode)((YamlMappingNode)w)["webhooks"]).Children)
            .Select(h => Yaml.Scalar(h, "namespaceSelector", "matchLabels", label.Groups["key"].Value))
            .ToList();
        Assert.NotEmpty(selectors);
        Assert.All(selectors, v => Assert.Equal(label.Groups["value"].Value, v));
    }

    [Fact]
    public async Task Provider_secret_command_makes_the_secret_the_key_broker_reads()
    {
        var command = new ShellCommand(Command(4)).Append("--dry-run=client", "-o", "json");
        var (code, kubectl) = await ShellProcess.RunAsync(command, Repo.Root, NoKubeconfig);
        Assert.True(code == 0, kubectl.StandardError);
        var secret = JsonNode.Parse(kubectl.StandardOutput)!;
        var sidecar = new SidecarOptions();
        Assert.Equal(SidecarKeySource.Broker, sidecar.KeySource);
        Assert.Equal("Secret", secret["kind"]!.GetValue<string>());
        Assert.Equal(new KeyBrokerOptions().ProviderSecret, secret["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(new OperatorOptions().Namespace, secret["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal(new[] { sidecar.AnthropicKeyName, sidecar.OpenAiKeyName }.Order(StringComparer.Ordinal), secret["data"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Get_aibudgets_output_has_the_crds_printer_columns()
    {
        Assert.Equal("kubectl get aibudgets", Command(5));
        var output = Repo.Block("README.md", Heading, "NAME                        LIMIT   SPENT   USED   FORECAST   STATE     AGE").Lines
            .Where(l => l.Trim().Length > 0).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();

        var crd = Yaml.Documents(Path.Combine(Repo.Root, "crds", "tollgate.io_aibudgets.yaml")).Single();
        var version = ((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)crd)["spec"])["versions"]).Children.Cast<YamlMappingNode>().Single(v => Yaml.Scalar(v, "served") == "true");
        var columns = ((YamlSequenceNode)version["additionalPrinterColumns"]).Children.Cast<YamlMappingNode>()
            .Where(c => (Yaml.Scalar(c, "priority") ?? "0") == "0").ToList();

        // kubectl shows NAME, then the priority-0 columns upper-cased; -o wide adds the others.
        Assert.Equal(["NAME", .. columns.Select(c => Yaml.Scalar(c, "name")!.ToUpperInvariant())], output[0]);
        var states = Regex.Match(columns.Single(c => Yaml.Scalar(c, "name") == "State").Children[new YamlScalarNode("description")].ToString(), @"^(\w+), (\w+) or (\w+)$");
        Assert.True(states.Success);
        foreach (var row in output.Skip(1))
        {
            Assert.Equal(output[0].Length, row.Length);
            Assert.Contains(row[Array.IndexOf(output[0], "STATE")], new[] { states.Groups[1].Value, states.Groups[2].Value, states.Groups[3].Value });
        }
    }

    private static string Command(int index) =>
        Repo.Block("README.md", Heading, "docker build --target operator -t tollgate/operator .     # also --target exporter, --target meter; push to your registry").Commands[index];

    private static async Task<IReadOnlyList<YamlNode>> RenderDefaultAsync()
    {
        // kubectl apply -k config/default needs a cluster; kubectl kustomize renders the same objects offline.
        var command = new ShellCommand(Command(2)[..Command(2).IndexOf('#', StringComparison.Ordinal)].Trim()).Rewrite("kubectl apply -k", "kubectl kustomize");
        var (code, kubectl) = await ShellProcess.RunAsync(command, Repo.Root, NoKubeconfig);
        Assert.True(code == 0, kubectl.StandardError);
        return Yaml.Parse(kubectl.StandardOutput);
    }

    [GeneratedRegex(@"--target (?<target>\w+)")]
    private static partial Regex TargetOption();
}
