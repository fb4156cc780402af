using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

public sealed class CaBundlePatcherTests
{
    private const string ConfigurationPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tollgate-pod-meter";
    private const string Bundle = "-----BEGIN CERTIFICATE-----\nMIIBnew\n-----END CERTIFICATE-----\n";

    /// <summary>Three webhooks: without a caBundle, with a stale one, with the current one.</summary>
    private static JsonObject Configuration() => JsonNode.Parse(KubernetesJson.Serialize(new V1MutatingWebhookConfiguration
    {
        ApiVersion = "admissionregistration.k8s.io/v1",
        Kind = "MutatingWebhookConfiguration",
        Metadata = new V1ObjectMeta { Name = "tollgate-pod-meter", ResourceVersion = "41" },
        Webhooks =
        [
            Webhook("pods.tollgate.io", null),
            Webhook("pods-system.tollgate.io", Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE-----\nMIIBold\n-----END CERTIFICATE-----\n")),
            Webhook("pods-reinvoked.tollgate.io", Encoding.ASCII.GetBytes(Bundle)),
        ],
    }))!.AsObject();

    private static V1MutatingWebhook Webhook(string name, byte[]? caBundle) => new()
    {
        Name = name,
        AdmissionReviewVersions = ["v1"],
        SideEffects = "None",
        FailurePolicy = "Ignore",
        ClientConfig = new Admissionregistrationv1WebhookClientConfig
        {
            Service = new Admissionregistrationv1ServiceReference { Name = "tollgate-webhook", NamespaceProperty = "tollgate-system", Path = "/mutate-pods", Port = 443 },
            CaBundle = caBundle,
        },
    };

    [Fact]
    public void Patch_sets_the_bundle_on_each_webhook_that_lacks_it_guarded_by_the_resource_version()
    {
        var configuration = Configuration();

        var patch = CaBundlePatcher.BuildPatch(KubernetesJson.Deserialize<V1MutatingWebhookConfiguration>(configuration.ToJsonString()), Bundle)!;

        var base64 = Convert.ToBase64String(Encoding.ASCII.GetBytes(Bundle));
        Assert.Equal(
            [("test", "/metadata/resourceVersion", "41"), ("add", "/webhooks/0/clientConfig/caBundle", base64), ("add", "/webhooks/1/clientConfig/caBundle", base64)],
            patch.Operations.Select(o => (o.Op, o.Path, (string?)o.Value)));
        var patched = KubernetesJson.Deserialize<V1MutatingWebhookConfiguration>(Rfc6902.Apply(configuration, JsonNode.Parse(patch.ToUtf8Bytes())!.AsArray()).ToJsonString());
        Assert.All(patched.Webhooks, w => Assert.Equal(Bundle, Encoding.ASCII.GetString(w.ClientConfig.CaBundle)));
        Assert.All(patched.Webhooks, w => Assert.Equal(("tollgate-webhook", "/mutate-pods"), (w.ClientConfig.Service.Name, w.ClientConfig.Service.Path)));
    }

    [Fact]
    public void No_patch_when_every_webhook_already_has_the_bundle()
    {
        var configuration = KubernetesJson.Deserialize<V1MutatingWebhookConfiguration>(Configuration().ToJsonString());
        foreach (var webhook in configuration.Webhooks)
        {
            webhook.ClientConfig.CaBundle = Encoding.ASCII.GetBytes(Bundle);
        }

        Assert.Null(CaBundlePatcher.BuildPatch(configuration, Bundle));
    }

    [Fact]
    public void Patch_fails_on_a_configuration_changed_since_it_was_read()
    {
        var configuration = Configuration();
        var patch = CaBundlePatcher.BuildPatch(KubernetesJson.Deserialize<V1MutatingWebhookConfiguration>(configuration.ToJsonString()), Bundle)!;
        configuration["metadata"]!["resourceVersion"] = "42";

        Assert.Throws<JsonPatchFailedException>(() => Rfc6902.Apply(configuration, JsonNode.Parse(patch.ToUtf8Bytes())!.AsArray()));
    }

    [Fact]
    public async Task Patcher_sends_a_json_patch_through_the_kubernetes_client_and_skips_when_nothing_differs()
    {
        await using var api = await KubernetesStub.StartAsync();
        api.Put(ConfigurationPath, Configuration());
        var patcher = new CaBundlePatcher(api.Client(), NullLogger<CaBundlePatcher>.Instance);

        Assert.True(await patcher.PatchAsync("tollgate-pod-meter", Bundle, CancellationToken.None));
        Assert.False(await patcher.PatchAsync("tollgate-pod-meter", Bundle, CancellationToken.None));

        var patch = Assert.Single(api.Requests, r => r.Method == "PATCH");
        Assert.Equal((ConfigurationPath, "application/json-patch+json"), (patch.Path, patch.ContentType?.Split(';')[0]));
        Assert.Equal(3, JsonNode.Parse(patch.Body)!.AsArray().Count);
        var stored = KubernetesJson.Deserialize<V1MutatingWebhookConfiguration>(api.Get(ConfigurationPath)!.ToJsonString());
        Assert.All(stored.Webhooks, w => Assert.Equal(Bundle, Encoding.ASCII.GetString(w.ClientConfig.CaBundle)));
    }
}
