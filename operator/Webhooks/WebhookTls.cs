using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Tollgate.Operator.Webhooks;

/// <summary>Where the webhook's certificate lives and whom it is for. Defaults match <c>config/default</c>.</summary>
public sealed class WebhookTlsOptions
{
    public const string SectionName = "Tollgate:WebhookTls";

    /// <summary>The Service the API server calls the webhook through.</summary>
    public string ServiceName { get; set; } = "tollgate-webhook";

    public string ServiceNamespace { get; set; } = "tollgate-system";

    /// <summary>The Secret, in <see cref="ServiceNamespace"/>, that every replica serves the same certificate from.</summary>
    public string SecretName { get; set; } = "tollgate-webhook-tls";

    public string WebhookConfigurationName { get; set; } = "tollgate-pod-meter";

    /// <summary>How often the Secret is re-read (another replica may have renewed) and the caBundle re-checked.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Keeps one webhook certificate for all replicas in a Secret. Each replica issuing its own CA would make them
/// overwrite each other's caBundle; instead the first to find the Secret missing or due for renewal writes it,
/// and a replica that loses the race (409) reads the winner's.
/// </summary>
public sealed class WebhookCertificateStore(IKubernetes client, IOptions<WebhookTlsOptions> options, TimeProvider time, ILogger<WebhookCertificateStore> logger)
{
    private const int Attempts = 5;

    private readonly WebhookTlsOptions _options = options.Value;

    /// <summary>Whether a stored certificate can go on being served: present, not due for renewal, for this Service.</summary>
    /// <remarks>A certificate stored without its CA's key (by a version that did not keep it) is issued anew once: the CA
    /// also signs the ledger's certificate.</remarks>
    public static bool IsUsable(ServingCertificate? stored, DateTimeOffset now, IEnumerable<string> dnsNames) =>
        stored is { Authority: not null } && !stored.NeedsRenewal(now) && stored.Covers(dnsNames);

    public async Task<ServingCertificate> EnsureAsync(CancellationToken cancellationToken)
    {
        var names = WebhookCertificates.DnsNames(_options.ServiceName, _options.ServiceNamespace);
        for (var attempt = 1; ; attempt++)
        {
            var secret = await ReadAsync(cancellationToken);
            var stored = ServingCertificate.FromSecretData(secret?.Data);
            if (IsUsable(stored, time.GetUtcNow(), names))
            {
                WebhookLog.CertificateLoaded(logger, _options.ServiceNamespace, _options.SecretName, stored!.NotAfter);
                return stored;
            }

            var issued = WebhookCertificates.Issue(_options.ServiceName, _options.ServiceNamespace, time, stored);
            stored?.Dispose();
            try
            {
                if (secret is null)
                {
                    await client.CoreV1.CreateNamespacedSecretAsync(
                        new V1Secret
                        {
                            Metadata = new V1ObjectMeta
                            {
                                Name = _options.SecretName,
                                NamespaceProperty = _options.ServiceNamespace,
                                Labels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "tollgate" },
                            },
                            Type = "kubernetes.io/tls",
                            Data = issued.ToSecretData(),
                        },
                        _options.ServiceNamespace,
                        cancellationToken: cancellationToken);
                }
                else
                {
                    // Replace carries the resourceVersion read above: a concurrent renewal makes this a 409, not a lost update.
                    secret.Data = issued.ToSecretData();
                    await client.CoreV1.ReplaceNamespacedSecretAsync(secret, _options.SecretName, _options.ServiceNamespace, cancellationToken: cancellationToken);
                }

                WebhookLog.CertificateIssued(logger, names[2], issued.NotAfter);
                return issued;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict && attempt < Attempts)
            {
                issued.Dispose();
            }
        }
    }

    private async Task<V1Secret?> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(_options.SecretName, _options.ServiceNamespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}

/// <summary>
/// Loads (or issues) the webhook certificate at start and then every <see cref="WebhookTlsOptions.CheckInterval"/>,
/// swaps it into the running Kestrel server and keeps the caBundle in step. Runs on every replica, leader or not:
/// every replica serves the webhook.
/// </summary>
public sealed class WebhookTlsRotator(
    WebhookCertificateStore store,
    CaBundlePatcher patcher,
    ServingCertificateSource source,
    IOptions<WebhookTlsOptions> options,
    TimeProvider time,
    ILogger<WebhookTlsRotator> logger) : BackgroundService
{
    private readonly WebhookTlsOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan next;
            try
            {
                await RefreshAsync(stoppingToken);
                next = _options.CheckInterval;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                next = _options.RetryInterval;
                WebhookLog.CertificateRefreshFailed(logger, next, ex);
            }

            try
            {
                await Task.Delay(next, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var certificate = await store.EnsureAsync(cancellationToken);
        if (source.Current?.Serving.Thumbprint != certificate.Serving.Thumbprint)
        {
            source.Set(certificate);
        }
        else
        {
            certificate.Dispose();
        }

        await patcher.PatchAsync(_options.WebhookConfigurationName, source.Current!.CaBundlePem, cancellationToken);
    }
}
