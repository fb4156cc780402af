using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

/// <summary>The shared certificate Secret and the rotation, through the real KubernetesClient against <see cref="KubernetesStub"/>.</summary>
public sealed class WebhookTlsTests : IAsyncLifetime
{
    private const string SecretsPath = "/api/v1/namespaces/tollgate-system/secrets";
    private const string SecretPath = SecretsPath + "/tollgate-webhook-tls";
    private const string ConfigurationPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tollgate-pod-meter";

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly IOptions<WebhookTlsOptions> _options = Options.Create(new WebhookTlsOptions());
    private KubernetesStub _api = null!;

    public async Task InitializeAsync() => _api = await KubernetesStub.StartAsync();

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task A_missing_secret_is_created_as_a_tls_secret_and_then_reused_by_every_replica()
    {
        using var first = await Store().EnsureAsync(CancellationToken.None);
        using var second = await Store().EnsureAsync(CancellationToken.None);

        Assert.Equal(first.Serving.Thumbprint, second.Serving.Thumbprint);
        Assert.Equal(["GET", "POST", "GET"], _api.Requests.Select(r => r.Method));
        var secret = KubernetesJson.Deserialize<V1Secret>(_api.Get(SecretPath)!.ToJsonString());
        Assert.Equal("kubernetes.io/tls", secret.Type);
        Assert.Equal(["tls.crt", "tls.key", "ca.crt", "ca-bundle.crt", "ca.key"], secret.Data.Keys);
    }

    [Fact]
    public async Task A_secret_due_for_renewal_is_replaced_and_the_new_bundle_still_trusts_the_old_ca()
    {
        using var old = await Store().EnsureAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromDays(336));

        using var renewed = await Store().EnsureAsync(CancellationToken.None);

        Assert.NotEqual(old.Serving.Thumbprint, renewed.Serving.Thumbprint);
        Assert.Equal("PUT", _api.Requests[^1].Method);
        Assert.Equal([renewed.Ca.Thumbprint, old.Ca.Thumbprint], renewed.TrustedCas().Select(c => c.Thumbprint));
        Assert.Equal(_time.GetUtcNow().AddDays(365), renewed.NotAfter);
    }

    [Fact]
    public async Task A_replica_that_loses_the_create_race_serves_the_winners_certificate()
    {
        using var winner = WebhookCertificates.Issue("tollgate-webhook", "tollgate-system", _time);
        _api.Intercept = (method, _) =>
        {
            if (method != "POST")
            {
                return null;
            }

            _api.Intercept = null;
            _api.Put(SecretPath, JsonNode.Parse(KubernetesJson.Serialize(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = "tollgate-webhook-tls", NamespaceProperty = "tollgate-system" },
                Type = "kubernetes.io/tls",
                Data = winner.ToSecretData(),
            }))!.AsObject());
            return 409;
        };

        using var loaded = await Store().EnsureAsync(CancellationToken.None);

        Assert.Equal(winner.Serving.Thumbprint, loaded.Serving.Thumbprint);
        Assert.Equal(["GET", "POST", "GET"], _api.Requests.Select(r => r.Method));
    }

    [Fact]
    public async Task Rotation_puts_the_certificate_into_the_server_and_its_bundle_into_the_webhook_configuration()
    {
        _api.Put(ConfigurationPath, JsonNode.Parse(KubernetesJson.Serialize(new V1MutatingWebhookConfiguration
        {
            ApiVersion = "admissionregistration.k8s.io/v1",
            Kind = "MutatingWebhookConfiguration",
            Metadata = new V1ObjectMeta { Name = "tollgate-pod-meter" },
            Webhooks = [new V1MutatingWebhook { Name = "pods.tollgate.io", ClientConfig = new Admissionregistrationv1WebhookClientConfig(), AdmissionReviewVersions = ["v1"], SideEffects = "None" }],
        }))!.AsObject());
        var source = new ServingCertificateSource();
        var rotator = new WebhookTlsRotator(Store(), new CaBundlePatcher(_api.Client(), NullLogger<CaBundlePatcher>.Instance), source, _options, _time, NullLogger<WebhookTlsRotator>.Instance);

        await rotator.RefreshAsync(CancellationToken.None);
        var served = source.Current!.Serving.Thumbprint;
        await rotator.RefreshAsync(CancellationToken.None);

        Assert.Equal(served, source.Current!.Serving.Thumbprint);
        var configuration = KubernetesJson.Deserialize<V1MutatingWebhookConfiguration>(_api.Get(ConfigurationPath)!.ToJsonString());
        Assert.Equal(source.Current.CaBundlePem, Encoding.ASCII.GetString(Assert.Single(configuration.Webhooks).ClientConfig.CaBundle));
        Assert.Single(_api.Requests, r => r.Method == "PATCH");
    }

    private WebhookCertificateStore Store() => new(_api.Client(), _options, _time, NullLogger<WebhookCertificateStore>.Instance);
}
