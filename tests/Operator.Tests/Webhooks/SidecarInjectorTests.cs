using System.Text.Json.Nodes;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

public sealed class SidecarInjectorTests
{
    private static readonly SidecarInjector Injector = new(Options.Create(PodManifests.Options()));

    [Theory]
    [InlineData("tollgate.io/injected", "tollgate.io~1injected")]
    [InlineData("a~b/c", "a~0b~1c")]
    [InlineData("~1", "~01")]
    public void Json_pointer_tokens_escape_tilde_before_slash(string token, string escaped)
    {
        Assert.Equal(escaped, JsonPointer.Escape(token));
        Assert.Equal($"/metadata/annotations/{escaped}", JsonPointer.Of("metadata", "annotations", token));
    }

    [Fact]
    public void Injected_annotation_is_added_by_an_escaped_pointer_when_annotations_exist()
    {
        var patch = Inject(PodManifests.JobPod);

        var annotation = Assert.Single(patch, op => op.Path.StartsWith("/metadata", StringComparison.Ordinal));
        Assert.Equal(("add", "/metadata/annotations/tollgate.io~1injected", "true"), (annotation.Op, annotation.Path, (string?)annotation.Value));
    }

    [Fact]
    public void Missing_init_containers_env_volumes_and_annotations_are_added_whole()
    {
        const string bare = """
            apiVersion: v1
            kind: Pod
            metadata: { name: bare, namespace: ci-payments }
            spec:
              containers: [{ name: job, image: busybox:1.36 }]
            """;

        var patch = Inject(bare);

        Assert.Equal(
            ["add /spec/containers/0/env", "add /spec/volumes", "add /spec/initContainers", "add /metadata/annotations"],
            patch.Select(op => $"{op.Op} {op.Path}"));
        Assert.Equal("tollgate-meter", (string?)Assert.Single(patch[2].Value!.AsArray())!["name"]);
    }

    [Fact]
    public void Existing_init_containers_get_their_env_at_original_indexes_before_the_sidecar_is_inserted_first()
    {
        var patch = Inject(PodManifests.PodWithInitContainers);

        Assert.Equal(
            [
                "add /spec/containers/0/env",
                "add /spec/initContainers/0/env/-",
                "add /spec/initContainers/0/env/-",
                "add /spec/initContainers/1/env",
                "add /spec/volumes",
                "add /spec/initContainers/0",
                "add /metadata/annotations",
            ],
            patch.Select(op => $"{op.Op} {op.Path}"));
    }

    [Fact]
    public void A_base_url_set_from_a_config_map_is_replaced_whole_so_value_and_value_from_never_meet()
    {
        const string yaml = """
            apiVersion: v1
            kind: Pod
            metadata: { name: p, namespace: ci-payments }
            spec:
              containers:
                - name: job
                  image: busybox:1.36
                  env:
                    - name: OPENAI_BASE_URL
                      valueFrom: { configMapKeyRef: { name: llm, key: url } }
            """;

        var pod = Apply(yaml);

        var variable = Assert.Single(pod.Spec.Containers[0].Env, e => e.Name == "OPENAI_BASE_URL");
        Assert.Equal(("http://127.0.0.1:8787/v1", null), (variable.Value, variable.ValueFrom));
    }

    [Fact]
    public void With_keep_base_urls_the_pods_own_url_stays_and_the_missing_one_is_added()
    {
        var pod = Apply(PodManifests.KeepBaseUrlsPod);

        var env = pod.Spec.Containers[0].Env;
        Assert.Equal(["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"], env.Select(e => e.Name));
        Assert.Equal("llm-double", env[0].ValueFrom.ConfigMapKeyRef.Name);
        Assert.Equal("http://127.0.0.1:8787", env[1].Value);
    }

    [Fact]
    public void A_label_with_an_empty_value_gives_no_identity_tag()
    {
        var pod = Apply(PodManifests.KeepBaseUrlsPod);

        var args = PodManifests.ExpandedArgs(pod, pod.Spec.InitContainers[0]);
        Assert.Equal(["team=payments"], args.Where((_, i) => i > 0 && args[i - 1] == "--tag"));
    }

    [Fact]
    public void A_container_named_like_the_meter_that_the_webhook_did_not_inject_is_denied()
    {
        const string yaml = """
            apiVersion: v1
            kind: Pod
            metadata: { name: p, namespace: ci-payments }
            spec:
              containers: [{ name: job, image: busybox:1.36 }, { name: tollgate-meter, image: tollgate-meter:old }]
            """;

        var result = Injector.Inject(PodManifests.Pod(yaml), PodManifests.MeteredNamespace);

        Assert.Equal((InjectionOutcome.Denied, null), (result.Outcome, result.Patch));
        Assert.Contains(result.Violations, v => v.StartsWith("container tollgate-meter: the name is reserved", StringComparison.Ordinal));
    }

    [Fact]
    public void Opt_out_is_honoured_only_where_the_namespace_allows_it_and_namespace_wins_over_everything()
    {
        Assert.Equal(InjectionOutcome.Denied, Injector.Inject(PodManifests.Pod(PodManifests.OptedOutPod), PodManifests.MeteredNamespace).Outcome);
        Assert.Equal(InjectionOutcome.OptedOut, Injector.Inject(PodManifests.Pod(PodManifests.OptedOutPod), PodManifests.OptOutNamespace).Outcome);
        Assert.Equal(InjectionOutcome.NamespaceNotMetered, Injector.Inject(PodManifests.Pod(PodManifests.OptedOutPod), PodManifests.PlainNamespace).Outcome);
        Assert.Equal(InjectionOutcome.NamespaceNotMetered, Injector.Inject(PodManifests.Pod(PodManifests.JobPod), new NamespaceInfo("ci-payments", new Dictionary<string, string> { ["tollgate.io/meter"] = "disabled" })).Outcome);
    }

    [Fact]
    public void A_literal_dollar_parenthesis_in_the_ledger_url_reaches_the_meter_unexpanded()
    {
        var options = PodManifests.Options();
        options.Ledger = "redis://:$(not-a-var)@tollgate-redis:6379";
        var patch = new SidecarInjector(Options.Create(options)).Inject(PodManifests.Pod(PodManifests.JobPod), PodManifests.MeteredNamespace).Patch!;
        var pod = PodManifests.Pod(Rfc6902.Apply(PodManifests.Json(PodManifests.JobPod), JsonNode.Parse(patch.ToString())!.AsArray()));

        var args = PodManifests.ExpandedArgs(pod, pod.Spec.InitContainers[0]);

        Assert.Equal("redis://:$(not-a-var)@tollgate-redis:6379", args[args.ToList().IndexOf("--ledger") + 1]);
    }

    [Fact]
    public void Configured_identity_mappings_replace_the_defaults()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tollgate:Sidecar:Image"] = "registry.example.com/tollgate/meter:2.0.0",
            ["Tollgate:Sidecar:Identity:0:Tag"] = "team",
            ["Tollgate:Sidecar:Identity:0:Sources:0:Kind"] = "Annotation",
            ["Tollgate:Sidecar:Identity:0:Sources:0:Key"] = "example.com/owner",
        }).Build();
        var options = new SidecarOptions();

        configuration.GetSection(SidecarOptions.SectionName).Bind(options);

        Assert.Equal("registry.example.com/tollgate/meter:2.0.0", options.Image);
        var mapping = Assert.Single(options.EffectiveIdentity);
        Assert.Equal(("team", IdentitySourceKind.Annotation, "example.com/owner"), (mapping.Tag, Assert.Single(mapping.Sources).Kind, mapping.Sources[0].Key));
        Assert.Equal(3, new SidecarOptions().EffectiveIdentity.Count);
    }

    [Theory]
    [InlineData("team", "TOLLGATE_TAG_TEAM")]
    [InlineData("cost-center", "TOLLGATE_TAG_COST_CENTER")]
    [InlineData("agent.step", "TOLLGATE_TAG_AGENT_STEP")]
    public void Tag_variables_are_valid_environment_names(string tag, string variable) =>
        Assert.Equal(variable, SidecarInjector.TagVariable(tag));

    [Fact]
    public void Secrets_of_the_namespaces_routing_rules_are_mounted_into_the_sidecar_only_and_optional()
    {
        var ns = PodManifests.MeteredNamespace with { RouteSecrets = ["openai-ci", "tollgate-provider-keys", "anthropic.ci"] };
        var patch = Injector.Inject(PodManifests.Pod(PodManifests.JobPod), ns).Patch!;
        var pod = PodManifests.Pod(Rfc6902.Apply(PodManifests.Json(PodManifests.JobPod), JsonNode.Parse(patch.ToUtf8Bytes())!.AsArray()));

        var sidecar = Assert.Single(pod.Spec.InitContainers, c => c.Name == SidecarInjector.ContainerName);
        var mounts = sidecar.VolumeMounts.Where(m => m.MountPath.StartsWith(SidecarInjector.SecretsPath, StringComparison.Ordinal))
            .Select(m => (m.MountPath, m.Name)).ToList();
        Assert.Equal(
            [
                ("/etc/tollgate/secrets/tollgate-provider-keys", SidecarInjector.ProviderKeysVolume),
                ("/etc/tollgate/secrets/anthropic.ci", "tollgate-key-anthropic-ci"),
                ("/etc/tollgate/secrets/openai-ci", "tollgate-key-openai-ci"),
            ],
            mounts);
        var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == "tollgate-key-openai-ci");
        Assert.Equal(("openai-ci", true), (volume.Secret.SecretName, volume.Secret.Optional));
        Assert.All(pod.Spec.Containers, c => Assert.DoesNotContain(c.VolumeMounts ?? [], m => m.Name.StartsWith("tollgate-key-", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_long_secret_name_gets_a_short_unique_volume_name()
    {
        var name = SidecarInjector.RouteSecretVolume(new string('a', 80));

        Assert.True(name.Length <= 63);
        Assert.NotEqual(name, SidecarInjector.RouteSecretVolume(new string('a', 81)));
    }

    private static List<JsonPatchOperation> Inject(string yaml) =>
        [.. Injector.Inject(PodManifests.Pod(yaml), PodManifests.MeteredNamespace).Patch!.Operations];

    private static V1Pod Apply(string yaml)
    {
        var patch = Injector.Inject(PodManifests.Pod(yaml), PodManifests.MeteredNamespace).Patch!;
        return PodManifests.Pod(Rfc6902.Apply(PodManifests.Json(yaml), JsonNode.Parse(patch.ToUtf8Bytes())!.AsArray()));
    }
}
