using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tollgate.Core.Serialization;
using Tollgate.Operator.LedgerWiring;
using Tollgate.Operator.Webhooks;
using Tollgate.TestSupport;

namespace Tollgate.Operator.Tests.Deployment;

/// <summary>
/// <c>kubectl kustomize config/default</c>, rendered once by the real tool and read back as YAML: the deployment builds,
/// and the names, ports, permissions and hardening that other parts rely on hold in what a cluster would receive.
/// </summary>
public sealed partial class KustomizeDeploymentTests(RenderedDefault rendered) : IClassFixture<RenderedDefault>
{
    private const string Namespace = "tollgate-system";
    private const string LedgerUrl = "rediss://tollgate-redis.tollgate-system.svc:6379";

    private static readonly HashSet<string> ClusterScopedKinds =
        ["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

    private IReadOnlyList<JsonObject> Objects => rendered.Objects;

    [Fact]
    public void Default_brings_both_crds_the_rules_the_dashboards_and_the_samples()
    {
        var crds = OfKind("CustomResourceDefinition").Select(Name).Order(StringComparer.Ordinal);
        Assert.Equal(["aibudgets.tollgate.io", "airoutingrules.tollgate.io"], crds);
        Assert.Single(OfKind("PrometheusRule"));
        Assert.Equal("1", Single("ConfigMap", "tollgate-dashboards")["metadata"]!["labels"]!["grafana_dashboard"]!.ToString());
        Assert.Equal(3, OfKind("AiBudget").Count);
        Assert.Equal(Namespace, Assert.Single(OfKind("AiRoutingRule"))["metadata"]!["namespace"]!.GetValue<string>());
    }

    [Fact]
    public void Every_namespaced_object_is_in_tollgate_system_and_part_of_tollgate()
    {
        Assert.Equal(Namespace, Name(Single("Namespace", Namespace)));
        foreach (var o in Objects)
        {
            var id = $"{Kind(o)}/{Name(o)}";
            var objectNamespace = o["metadata"]!["namespace"]?.GetValue<string>();
            if (Kind(o) is "ValidatingAdmissionPolicy" or "ValidatingAdmissionPolicyBinding")
            {
                // Cluster-scoped, but unknown as such to kustomize, which writes the namespace in; the API server clears it.
                Assert.True(objectNamespace is null or Namespace, $"{id} has namespace {objectNamespace}");
            }
            else if (ClusterScopedKinds.Contains(Kind(o)))
            {
                Assert.True(objectNamespace is null, $"{id} is cluster-scoped but has namespace {objectNamespace}");
            }
            else
            {
                Assert.True(objectNamespace == Namespace, $"{id} is in namespace \"{objectNamespace}\", not {Namespace}");
            }

            Assert.True(Labels(o["metadata"]).GetValueOrDefault("app.kubernetes.io/part-of") == "tollgate", $"{id} lacks app.kubernetes.io/part-of: tollgate");
        }
    }

    [Fact]
    public void Operator_cluster_role_grants_exactly_the_listed_rules_and_no_role_has_a_wildcard()
    {
        string[] read = ["get", "list", "watch"];
        string[] write = ["create", "update", "patch", "delete"];
        var expected = new List<string>();
        void Grant(string group, string[] resources, string[] verbs, string? name = null) =>
            expected.AddRange(resources.SelectMany(r => verbs.Select(v => Permission(group, r, v, name))));

        Grant("tollgate.io", ["aibudgets", "airoutingrules"], [.. read, "update", "patch"]);
        Grant("tollgate.io", ["aibudgets/status", "airoutingrules/status"], ["get", "update", "patch"]);
        Grant("tollgate.io", ["aibudgets/finalizers", "airoutingrules/finalizers"], ["update"]);
        Grant("", ["namespaces"], read);
        Grant("", ["configmaps"], [.. read, .. write]);
        Grant("", ["events"], ["create", "patch"]);
        Grant("events.k8s.io", ["events"], ["create", "patch"]);
        Grant("monitoring.coreos.com", ["prometheusrules"], [.. read, .. write]);
        Grant("apiextensions.k8s.io", ["customresourcedefinitions"], read);
        Grant("admissionregistration.k8s.io", ["mutatingwebhookconfigurations"], ["get", "patch"], new WebhookTlsOptions().WebhookConfigurationName);
        Grant("admissionregistration.k8s.io", ["validatingadmissionpolicies", "validatingadmissionpolicybindings"], ["get", "update"], AdmissionPolicy.PolicyName);
        Grant("admissionregistration.k8s.io", ["validatingadmissionpolicies", "validatingadmissionpolicybindings"], ["create"]);
        Grant("authentication.k8s.io", ["tokenreviews"], ["create"]);
        Grant("", ["pods"], ["get"]);

        Assert.Equal(expected.Order(StringComparer.Ordinal), Permissions(Single("ClusterRole", "tollgate-operator")));

        foreach (var role in OfKind("ClusterRole").Concat(OfKind("Role")))
        {
            foreach (var rule in role["rules"]!.AsArray())
            {
                foreach (var field in new[] { "apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs" })
                {
                    Assert.DoesNotContain("*", Strings(rule![field]));
                }
            }
        }
    }

    [Fact]
    public void Operator_role_in_tollgate_system_grants_its_lease_and_its_own_secrets_only()
    {
        var role = Single("Role", "tollgate-operator");
        var wiring = new LedgerWiringOptions();
        string[] secrets =
        [
            new WebhookTlsOptions().SecretName, wiring.TlsSecretName, wiring.UsersSecretName, .. LedgerWiringOptions.Components.Select(c => c.SecretName),
        ];
        string[] expected =
        [
            Permission("coordination.k8s.io", "leases", "get", "tollgate-operator"),
            Permission("coordination.k8s.io", "leases", "update", "tollgate-operator"),
            Permission("coordination.k8s.io", "leases", "create", null),
            .. secrets.SelectMany(secret => new[] { Permission("", "secrets", "get", secret), Permission("", "secrets", "update", secret) }),
            Permission("", "secrets", "create", null),
            Permission("apps", "statefulsets", "get", wiring.RedisName),
            Permission("apps", "statefulsets", "patch", wiring.RedisName),
        ];

        Assert.Equal(Namespace, role["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal(expected.Order(StringComparer.Ordinal), Permissions(role));
    }

    [Fact]
    public void Key_broker_role_reads_secrets_in_tollgate_system_only_and_nothing_can_list_or_watch_them()
    {
        var role = Single("Role", "tollgate-key-broker");

        Assert.Equal(Namespace, role["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal([Permission("", "secrets", "get", null)], Permissions(role));
        Assert.Equal("Role/tollgate-key-broker", RoleRef(Single("RoleBinding", "tollgate-key-broker")));
        Assert.Equal(Namespace, Single("RoleBinding", "tollgate-key-broker")["metadata"]!["namespace"]!.GetValue<string>());
        foreach (var other in OfKind("ClusterRole").Concat(OfKind("Role")))
        {
            Assert.DoesNotContain(Permissions(other), p => p.StartsWith("|secrets|list|", StringComparison.Ordinal) || p.StartsWith("|secrets|watch|", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Operator_injects_meters_in_broker_mode_by_default()
    {
        var args = Strings(PodSpec(Single("Deployment", "tollgate-operator"))["containers"]![0]!["args"]).ToList();

        Assert.Equal("broker", args[args.IndexOf("--sidecar-key-source") + 1]);
        Assert.Equal(SidecarKeySource.Broker, new SidecarOptions().KeySource);
    }

    [Fact]
    public void Only_the_operator_service_account_is_bound_and_the_others_mount_no_token()
    {
        Assert.Equal("ClusterRole/tollgate-operator", RoleRef(Single("ClusterRoleBinding", "tollgate-operator")));
        Assert.Equal("Role/tollgate-operator", RoleRef(Single("RoleBinding", "tollgate-operator")));
        Assert.Equal("Role/tollgate-key-broker", RoleRef(Single("RoleBinding", "tollgate-key-broker")));
        foreach (var binding in OfKind("ClusterRoleBinding").Concat(OfKind("RoleBinding")))
        {
            var subjects = binding["subjects"]!.AsArray().Select(s => $"{s!["kind"]}/{s["namespace"]}/{s["name"]}");
            Assert.Equal(["ServiceAccount/tollgate-system/tollgate-operator"], subjects);
        }

        Assert.Equal("tollgate-operator", PodSpec(Single("Deployment", "tollgate-operator"))["serviceAccountName"]!.GetValue<string>());
        Assert.NotNull(Single("ServiceAccount", "tollgate-operator"));

        foreach (var (kind, name) in new[] { ("Deployment", "tollgate-exporter"), ("StatefulSet", "tollgate-redis") })
        {
            var pod = PodSpec(Single(kind, name));
            Assert.Equal(name, pod["serviceAccountName"]!.GetValue<string>());
            Assert.False(pod["automountServiceAccountToken"]!.GetValue<bool>(), $"{name} mounts a service account token");
            Assert.False(Single("ServiceAccount", name)["automountServiceAccountToken"]!.GetValue<bool>());
        }
    }

    [Fact]
    public void Webhook_configuration_calls_the_operator_through_its_service_and_fails_closed()
    {
        var tls = new WebhookTlsOptions();
        var configuration = Single("MutatingWebhookConfiguration", tls.WebhookConfigurationName);
        var webhook = Assert.Single(configuration["webhooks"]!.AsArray())!;

        Assert.Equal("pod-meter.tollgate.io", webhook["name"]!.GetValue<string>());
        var service = webhook["clientConfig"]!["service"]!;
        Assert.Equal(tls.ServiceName, service["name"]!.GetValue<string>());
        Assert.Equal(tls.ServiceNamespace, service["namespace"]!.GetValue<string>());
        Assert.Equal(AdmissionEndpoint.Path, service["path"]!.GetValue<string>());
        Assert.Null(webhook["clientConfig"]!["caBundle"]);

        Assert.Equal("Fail", webhook["failurePolicy"]!.GetValue<string>());
        Assert.Equal("None", webhook["sideEffects"]!.GetValue<string>());
        Assert.Equal(["v1"], Strings(webhook["admissionReviewVersions"]));
        Assert.Equal(5, webhook["timeoutSeconds"]!.GetValue<long>());
        Assert.Equal("Never", webhook["reinvocationPolicy"]!.GetValue<string>());
        Assert.Null(webhook["objectSelector"]);
        Assert.Equal(
            new Dictionary<string, string> { [NamespaceInfo.MeterLabel] = NamespaceInfo.MeterEnabled },
            Labels(webhook["namespaceSelector"], "matchLabels"));
        var excluded = Assert.Single(webhook["namespaceSelector"]!["matchExpressions"]!.AsArray())!;
        Assert.Equal(("kubernetes.io/metadata.name", "NotIn"), (excluded["key"]!.GetValue<string>(), excluded["operator"]!.GetValue<string>()));
        Assert.Contains(Namespace, Strings(excluded["values"]));

        var rules = webhook["rules"]!.AsArray();
        Assert.All(rules, rule => Assert.Equal(" v1", $"{string.Join(",", Strings(rule!["apiGroups"]))} {string.Join(",", Strings(rule["apiVersions"]))}"));
        Assert.Equal(
            ["CREATE pods", "UPDATE pods/ephemeralcontainers"],
            rules.Select(rule => $"{string.Join(",", Strings(rule!["operations"]))} {string.Join(",", Strings(rule["resources"]))}"));

        // The Service exists, listens on the port the configuration dials, and lands on the webhook server's port.
        var port = service["port"]?.GetValue<long>() ?? 443;
        var target = ServiceTarget(Single("Service", tls.ServiceName), port);
        Assert.Equal("Deployment/tollgate-operator", $"{Kind(target.Workload)}/{Name(target.Workload)}");
        Assert.Equal(new WebhookHostOptions().Port, target.ContainerPort);
    }

    [Fact]
    public void Key_custody_policy_is_shipped_unbound_and_the_operators_binding_selects_the_webhooks_namespaces_and_denies()
    {
        var policy = Single("ValidatingAdmissionPolicy", AdmissionPolicy.PolicyName);
        var binding = JsonNode.Parse(k8s.KubernetesJson.Serialize(AdmissionPolicy.Binding(Namespace)))!;
        var webhook = Assert.Single(Single("MutatingWebhookConfiguration", new WebhookTlsOptions().WebhookConfigurationName)["webhooks"]!.AsArray())!;

        Assert.Equal("admissionregistration.k8s.io/v1", policy["apiVersion"]!.GetValue<string>());
        Assert.Equal("Fail", policy["spec"]!["failurePolicy"]!.GetValue<string>());
        Assert.Equal(AdmissionPolicy.Rules.Count, policy["spec"]!["validations"]!.AsArray().Count);

        // Shipped, the binding would refuse every pod of a metered namespace until the operator wrote the parameters.
        Assert.Empty(OfKind("ValidatingAdmissionPolicyBinding"));
        Assert.DoesNotContain(OfKind("ConfigMap"), c => Name(c) == AdmissionPolicy.ParamsName);

        Assert.Equal(AdmissionPolicy.PolicyName, binding["spec"]!["policyName"]!.GetValue<string>());
        Assert.Equal(["Deny"], Strings(binding["spec"]!["validationActions"]));
        Assert.Equal(
            (AdmissionPolicy.ParamsName, Namespace, "Deny"),
            (binding["spec"]!["paramRef"]!["name"]!.GetValue<string>(), binding["spec"]!["paramRef"]!["namespace"]!.GetValue<string>(), binding["spec"]!["paramRef"]!["parameterNotFoundAction"]!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(webhook["namespaceSelector"], binding["spec"]!["matchResources"]!["namespaceSelector"]), "the policy and the webhook select different namespaces");
    }

    [Fact]
    public void Services_route_every_port_to_a_named_container_port_of_exactly_one_workload()
    {
        var expected = new Dictionary<string, (long Port, string Workload, long ContainerPort)>
        {
            ["tollgate-webhook"] = (443, "tollgate-operator", 9443),
            ["tollgate-operator-metrics"] = (8080, "tollgate-operator", 8080),
            ["tollgate-exporter"] = (9465, "tollgate-exporter", 9465),
            ["tollgate-redis"] = (6379, "tollgate-redis", 6379),
        };

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), OfKind("Service").Select(Name).Order(StringComparer.Ordinal));
        foreach (var (name, (port, workload, containerPort)) in expected)
        {
            var target = ServiceTarget(Single("Service", name), port);
            Assert.Equal(workload, Name(target.Workload));
            Assert.Equal(containerPort, target.ContainerPort);
        }

        Assert.Equal("None", Single("Service", "tollgate-redis")["spec"]!["clusterIP"]!.GetValue<string>());
    }

    [Fact]
    public void Workload_containers_run_as_non_root_with_a_read_only_root_filesystem_and_limits()
    {
        var workloads = Workloads().ToList();
        Assert.Equal(3, workloads.Count);
        foreach (var workload in workloads)
        {
            var pod = PodSpec(workload);
            var podSecurity = pod["securityContext"];
            var containers = Containers(workload).ToList();
            Assert.NotEmpty(containers);
            foreach (var container in containers)
            {
                var id = $"{Kind(workload)}/{Name(workload)} container {container["name"]}";
                var security = container["securityContext"];
                Assert.True((security?["runAsNonRoot"] ?? podSecurity?["runAsNonRoot"])?.GetValue<bool>() == true, $"{id}: runAsNonRoot");
                var user = (security?["runAsUser"] ?? podSecurity?["runAsUser"])?.GetValue<long>();
                Assert.True(user is > 0, $"{id}: runAsUser {user}");
                Assert.True(security?["readOnlyRootFilesystem"]?.GetValue<bool>() == true, $"{id}: readOnlyRootFilesystem");
                Assert.True(security?["allowPrivilegeEscalation"]?.GetValue<bool>() == false, $"{id}: allowPrivilegeEscalation");
                Assert.Equal(["ALL"], Strings(security?["capabilities"]?["drop"]));
                Assert.Equal("RuntimeDefault", (security?["seccompProfile"] ?? podSecurity?["seccompProfile"])?["type"]?.GetValue<string>());
                Assert.True(container["resources"]?["requests"]?["memory"] is not null, $"{id}: memory request");
                Assert.True(container["resources"]?["limits"]?["memory"] is not null, $"{id}: memory limit");
                Assert.NotNull(container["readinessProbe"]);
                Assert.NotNull(container["livenessProbe"]);
            }
        }

        // The .NET images run as their app user (Dockerfile USER $APP_UID), which is the UID the sidecar gets too.
        foreach (var name in new[] { "tollgate-operator", "tollgate-exporter" })
        {
            Assert.Equal(new SidecarOptions().RunAsUser, PodSpec(Single("Deployment", name))["securityContext"]!["runAsUser"]!.GetValue<long>());
        }
    }

    [Fact]
    public void Operator_runs_two_replicas_with_leader_election_probes_and_a_disruption_budget()
    {
        var deployment = Single("Deployment", "tollgate-operator");
        Assert.Equal(2, deployment["spec"]!["replicas"]!.GetValue<long>());
        Assert.Equal(0, deployment["spec"]!["strategy"]!["rollingUpdate"]!["maxUnavailable"]!.GetValue<long>());

        var budget = Single("PodDisruptionBudget", "tollgate-operator");
        Assert.Equal(1, budget["spec"]!["minAvailable"]!.GetValue<long>());
        Assert.True(Matches(Labels(budget["spec"]!["selector"], "matchLabels"), TemplateLabels(deployment)));

        var container = Assert.Single(Containers(deployment));
        var args = Args(container);
        var lease = Assert.Single(Single("Role", "tollgate-operator")["rules"]!.AsArray(), r => Strings(r!["resources"]).Contains("leases") && r["resourceNames"] is not null)!;
        Assert.Equal("true", args["--leader-election"]);
        Assert.Equal(new[] { args["--lease-name"] }, Strings(lease["resourceNames"]));
        Assert.Equal("$(POD_NAME)", args["--identity"]);
        Assert.Equal("$(POD_NAMESPACE)", args["--namespace"]);
        Assert.Equal("0.0.0.0:8080", args["--metrics-listen"]);
        Assert.Equal($"0.0.0.0:{new WebhookHostOptions().Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}", args["--webhook-listen"]);
        var tls = new WebhookTlsOptions();
        Assert.Equal(tls.ServiceName, args["--webhook-service"]);
        Assert.Equal(tls.SecretName, args["--webhook-secret"]);
        Assert.Equal(tls.WebhookConfigurationName, args["--webhook-configuration"]);

        Assert.Equal(("/healthz", 8080), Probe(container, "livenessProbe"));
        Assert.Equal(("/readyz", 8080), Probe(container, "readinessProbe"));
    }

    [Fact]
    public void Exporter_runs_one_replica_recreated_with_the_optional_policy_and_token()
    {
        var deployment = Single("Deployment", "tollgate-exporter");
        Assert.Equal(1, deployment["spec"]!["replicas"]!.GetValue<long>());
        Assert.Equal("Recreate", deployment["spec"]!["strategy"]!["type"]!.GetValue<string>());

        var container = Assert.Single(Containers(deployment));
        var args = Args(container);
        Assert.Equal("0.0.0.0:9465", args["--listen"]);
        Assert.Equal("/etc/tollgate/policy", args["--policy"]);
        Assert.Equal("/etc/tollgate/export/token", args["--token-file"]);

        var volumes = PodSpec(deployment)["volumes"]!.AsArray().ToDictionary(v => v!["name"]!.GetValue<string>(), v => v!, StringComparer.Ordinal);
        var mounts = container["volumeMounts"]!.AsArray().ToDictionary(m => m!["mountPath"]!.GetValue<string>(), m => m!["name"]!.GetValue<string>(), StringComparer.Ordinal);
        var policy = volumes[mounts["/etc/tollgate/policy"]]["configMap"]!;
        Assert.Equal("tollgate-exporter-policy", policy["name"]!.GetValue<string>());
        Assert.True(policy["optional"]!.GetValue<bool>());
        var token = volumes[mounts[Path.GetDirectoryName(args["--token-file"])!]]["secret"]!;
        Assert.Equal("tollgate-export-token", token["secretName"]!.GetValue<string>());
        Assert.True(token["optional"]!.GetValue<bool>());

        Assert.Equal(("/healthz", 9465), Probe(container, "livenessProbe"));
        Assert.Equal(("/readyz", 9465), Probe(container, "readinessProbe"));
    }

    [Fact]
    public void Every_secret_volume_that_others_may_not_read_is_readable_by_its_pods_user_through_fsGroup()
    {
        foreach (var workload in OfKind("Deployment").Concat(OfKind("StatefulSet")))
        {
            var pod = PodSpec(workload);
            foreach (var secret in (pod["volumes"] as JsonArray ?? []).Select(v => v!["secret"]).OfType<JsonNode>())
            {
                // The kubelet writes Secret files owned by root, group fsGroup (root without one), with defaultMode (0644 unless set).
                var mode = secret["defaultMode"]?.GetValue<long>() ?? 420;
                if ((mode & 4) == 0)
                {
                    Assert.True(
                        pod["securityContext"]?["fsGroup"] is not null && (mode & 32) != 0,
                        $"{Name(workload)}: Secret {secret["secretName"]} has mode {Convert.ToString(mode, 8)} but the pod's user can read it only through fsGroup, which is not set");
                }
            }
        }
    }

    [Fact]
    public void Operator_exporter_and_meters_use_the_redis_service_as_ledger()
    {
        var operatorArgs = Args(Assert.Single(Containers(Single("Deployment", "tollgate-operator"))));
        var exporterArgs = Args(Assert.Single(Containers(Single("Deployment", "tollgate-exporter"))));
        Assert.Equal(LedgerUrl, operatorArgs["--ledger"]);
        Assert.Equal(LedgerUrl, operatorArgs["--sidecar-ledger"]);
        Assert.Equal(LedgerUrl, exporterArgs["--ledger"]);
        Assert.Equal(LedgerUrl, new SidecarOptions().Ledger);

        var address = new Uri(LedgerUrl);
        var hostParts = address.Host.Split('.');
        Assert.Equal(Namespace, hostParts[1]);
        var target = ServiceTarget(Single("Service", hostParts[0]), address.Port);
        Assert.Equal("StatefulSet/tollgate-redis", $"{Kind(target.Workload)}/{Name(target.Workload)}");
    }

    [Fact]
    public void Redis_keeps_an_append_only_file_on_a_volume_and_admits_only_tollgate_and_metered_namespaces()
    {
        var redis = Single("StatefulSet", "tollgate-redis");
        Assert.Equal(1, redis["spec"]!["replicas"]!.GetValue<long>());
        var container = Assert.Single(Containers(redis));
        Assert.StartsWith("redis:7", container["image"]!.GetValue<string>(), StringComparison.Ordinal);
        var args = Args(container);
        Assert.Equal("yes", args["--appendonly"]);
        Assert.Equal("everysec", args["--appendfsync"]);
        var claim = Assert.Single(redis["spec"]!["volumeClaimTemplates"]!.AsArray())!;
        Assert.Equal("1Gi", claim["spec"]!["resources"]!["requests"]!["storage"]!.GetValue<string>());
        Assert.Contains(container["volumeMounts"]!.AsArray(), m => m!["name"]!.GetValue<string>() == claim["metadata"]!["name"]!.GetValue<string>());
        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
        {
            Assert.Contains("redis-cli", string.Join(' ', Strings(container[probe]!["exec"]!["command"])), StringComparison.Ordinal);
        }

        var policy = Single("NetworkPolicy", "tollgate-redis");
        Assert.True(Matches(Labels(policy["spec"]!["podSelector"], "matchLabels"), TemplateLabels(redis)));
        Assert.Equal(["Ingress"], Strings(policy["spec"]!["policyTypes"]));
        var ingress = Assert.Single(policy["spec"]!["ingress"]!.AsArray())!;
        var port = Assert.Single(ingress["ports"]!.AsArray())!;
        Assert.Equal((6379L, "TCP"), (port["port"]!.GetValue<long>(), port["protocol"]!.GetValue<string>()));
        var from = ingress["from"]!.AsArray();
        Assert.Equal(2, from.Count);
        var ownPods = Assert.Single(from, p => p!["podSelector"] is not null)!;
        Assert.Null(ownPods["namespaceSelector"]);
        var ownLabels = Labels(ownPods["podSelector"], "matchLabels");
        Assert.Equal(new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "tollgate" }, ownLabels);
        var metered = Assert.Single(from, p => p!["namespaceSelector"] is not null)!;
        Assert.Null(metered["podSelector"]);
        Assert.Equal(new Dictionary<string, string> { [NamespaceInfo.MeterLabel] = NamespaceInfo.MeterEnabled }, Labels(metered["namespaceSelector"], "matchLabels"));

        // The clients of Redis in tollgate-system are admitted by that label.
        foreach (var client in new[] { "tollgate-operator", "tollgate-exporter" })
        {
            Assert.True(Matches(ownLabels, TemplateLabels(Single("Deployment", client))), $"{client} pods are not admitted to Redis");
        }
    }

    [Fact]
    public void Images_are_the_dockerfile_targets()
    {
        var targets = DockerfileTarget().Matches(File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "Dockerfile")))
            .Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);
        var operatorContainer = Assert.Single(Containers(Single("Deployment", "tollgate-operator")));
        var images = new Dictionary<string, string>
        {
            ["operator"] = operatorContainer["image"]!.GetValue<string>(),
            ["exporter"] = Assert.Single(Containers(Single("Deployment", "tollgate-exporter")))["image"]!.GetValue<string>(),
            // The meter is no container of the deployment: the operator hands it to the webhook as the sidecar image.
            ["meter"] = Args(operatorContainer)["--sidecar-image"],
        };

        foreach (var (target, image) in images)
        {
            Assert.Contains(target, targets);
            Assert.Equal($"tollgate/{target}", image.Split(':')[0]);
        }
    }

    [Fact]
    public async Task Samples_build_with_kubectl_kustomize()
    {
        var samples = await Kubectl.KustomizeAsync("config/samples");

        var kinds = samples.Select(Kind).Order(StringComparer.Ordinal);
        Assert.Equal(["AiBudget", "AiBudget", "AiBudget", "AiRoutingRule"], kinds);
        Assert.All(samples, s => Assert.Equal("tollgate.io/v1alpha1", s["apiVersion"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Prometheus_operator_component_adds_monitors_for_the_exporter_and_the_meters()
    {
        // A component cannot be built on its own, and kustomize refuses absolute paths: build an overlay next to a copy.
        var root = Directory.CreateTempSubdirectory("tollgate-kustomize-");
        try
        {
            CopyDirectory(Path.Combine(RepositoryPaths.Root(), "crds"), Path.Combine(root.FullName, "crds"));
            CopyDirectory(Path.Combine(RepositoryPaths.Root(), "config"), Path.Combine(root.FullName, "config"));
            var overlay = Directory.CreateDirectory(Path.Combine(root.FullName, "overlay"));
            await File.WriteAllTextAsync(
                Path.Combine(overlay.FullName, "kustomization.yaml"),
                "resources: [../config/default]\ncomponents: [../config/prometheus-operator]\n");

            var objects = await Kubectl.KustomizeAsync(overlay.FullName);

            var serviceMonitor = Assert.Single(objects, o => Kind(o) == "ServiceMonitor");
            Assert.Equal(Namespace, serviceMonitor["metadata"]!["namespace"]!.GetValue<string>());
            var exporterService = Assert.Single(objects, o => Kind(o) == "Service" && Matches(Labels(serviceMonitor["spec"]!["selector"], "matchLabels"), Labels(o["metadata"])));
            // The Prometheus Operator names the job after the Service: the rules and dashboards expect tollgate-exporter.
            Assert.Equal("tollgate-exporter", Name(exporterService));
            var endpoint = Assert.Single(serviceMonitor["spec"]!["endpoints"]!.AsArray())!;
            Assert.Contains(exporterService["spec"]!["ports"]!.AsArray(), p => p!["name"]!.GetValue<string>() == endpoint["port"]!.GetValue<string>());
            Assert.True(endpoint["honorLabels"]!.GetValue<bool>());

            var podMonitor = Assert.Single(objects, o => Kind(o) == "PodMonitor");
            Assert.True(podMonitor["spec"]!["namespaceSelector"]!["any"]!.GetValue<bool>());
            var meters = Assert.Single(podMonitor["spec"]!["podMetricsEndpoints"]!.AsArray())!;
            Assert.Equal("tollgate-admin", meters["port"]!.GetValue<string>());
            Assert.True(meters["honorLabels"]!.GetValue<bool>());
            var relabelings = meters["relabelings"]!.AsArray();
            Assert.Contains(relabelings, r => r!["targetLabel"]?.GetValue<string>() == "job" && r["replacement"]?.GetValue<string>() == "tollgate-meter");
            Assert.Contains(relabelings, r => Strings(r!["sourceLabels"]).SequenceEqual(["__meta_kubernetes_pod_phase"]) && r["action"]!.GetValue<string>() == "keep");
            Assert.Contains(relabelings, r => Strings(r!["sourceLabels"]).SequenceEqual(["__meta_kubernetes_pod_annotation_tollgate_io_injected"]));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    private List<JsonObject> OfKind(string kind) => [.. Objects.Where(o => Kind(o) == kind)];

    private JsonObject Single(string kind, string name) =>
        Assert.Single(Objects, o => Kind(o) == kind && Name(o) == name);

    private IEnumerable<JsonObject> Workloads() => Objects.Where(o => Kind(o) is "Deployment" or "StatefulSet" or "DaemonSet");

    /// <summary>The workload whose pods a Service selects (exactly one) and the container port number a Service port lands on.</summary>
    private (JsonObject Workload, long ContainerPort) ServiceTarget(JsonObject service, long port)
    {
        var selector = Labels(service["spec"], "selector");
        Assert.NotEmpty(selector);
        var workload = Assert.Single(Workloads(), w => Matches(selector, TemplateLabels(w)));
        var servicePort = Assert.Single(service["spec"]!["ports"]!.AsArray(), p => p!["port"]!.GetValue<long>() == port)!;
        var targetPort = servicePort["targetPort"] ?? servicePort["port"]!;
        var containerPorts = Containers(workload).SelectMany(c => c["ports"]?.AsArray() ?? []).ToList();
        var match = targetPort.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? Assert.Single(containerPorts, p => p!["name"]?.GetValue<string>() == targetPort.GetValue<string>())
            : Assert.Single(containerPorts, p => p!["containerPort"]!.GetValue<long>() == targetPort.GetValue<long>());
        return (workload, match!["containerPort"]!.GetValue<long>());
    }

    private static string Kind(JsonObject o) => o["kind"]!.GetValue<string>();

    private static string Name(JsonObject o) => o["metadata"]!["name"]!.GetValue<string>();

    private static JsonObject PodSpec(JsonObject workload) => workload["spec"]!["template"]!["spec"]!.AsObject();

    private static Dictionary<string, string> TemplateLabels(JsonObject workload) => Labels(workload["spec"]!["template"]!["metadata"]);

    private static IEnumerable<JsonObject> Containers(JsonObject workload) =>
        new[] { "initContainers", "containers" }.SelectMany(list => PodSpec(workload)[list]?.AsArray() ?? []).Select(c => c!.AsObject());

    private static Dictionary<string, string> Labels(JsonNode? owner, string field = "labels") =>
        (owner?[field]?.AsObject() ?? []).ToDictionary(p => p.Key, p => p.Value!.ToString(), StringComparer.Ordinal);

    private static bool Matches(Dictionary<string, string> selector, Dictionary<string, string> labels) =>
        selector.Count > 0 && selector.All(s => labels.TryGetValue(s.Key, out var value) && value == s.Value);

    private static List<string> Strings(JsonNode? array) => [.. (array?.AsArray() ?? []).Select(n => n!.ToString())];

    /// <summary>A container's args as <c>--flag value</c> pairs.</summary>
    private static Dictionary<string, string> Args(JsonObject container)
    {
        var args = Strings(container["args"]);
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count - 1; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                pairs[args[i]] = args[i + 1];
            }
        }

        return pairs;
    }

    /// <summary>An HTTP probe's path and the container port number it resolves to.</summary>
    private static (string Path, long Port) Probe(JsonObject container, string probe)
    {
        var get = container[probe]!["httpGet"]!;
        var port = get["port"]!;
        var number = port.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? Assert.Single(container["ports"]!.AsArray(), p => p!["name"]!.GetValue<string>() == port.GetValue<string>())!["containerPort"]!.GetValue<long>()
            : port.GetValue<long>();
        return (get["path"]!.GetValue<string>(), number);
    }

    private static string RoleRef(JsonObject binding) => $"{binding["roleRef"]!["kind"]}/{binding["roleRef"]!["name"]}";

    private static string Permission(string group, string resource, string verb, string? name) => $"{group}|{resource}|{verb}|{name ?? "(any)"}";

    /// <summary>Every (group, resource, verb, resource name) a role grants, one string each, sorted.</summary>
    private static List<string> Permissions(JsonObject role)
    {
        var granted = new List<string>();
        foreach (var rule in role["rules"]!.AsArray())
        {
            var names = rule!["resourceNames"] is null ? [null] : Strings(rule["resourceNames"]).Cast<string?>().ToList();
            granted.AddRange(
                from g in Strings(rule["apiGroups"])
                from r in Strings(rule["resources"])
                from v in Strings(rule["verbs"])
                from n in names
                select Permission(g, r, v, n));
        }

        return [.. granted.Order(StringComparer.Ordinal)];
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
    }

    [GeneratedRegex(@"^FROM\s+\S+\s+AS\s+(\S+)\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex DockerfileTarget();
}

/// <summary><c>kubectl kustomize config/default</c>, once for the test class.</summary>
public sealed class RenderedDefault : IAsyncLifetime
{
    public IReadOnlyList<JsonObject> Objects { get; private set; } = [];

    public async Task InitializeAsync() => Objects = await Kubectl.KustomizeAsync("config/default");

    public Task DisposeAsync() => Task.CompletedTask;
}
