using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Webhooks;

/// <summary>
/// The real <see cref="WebhookHost"/> on a free loopback port with a freshly issued certificate, and clients that
/// reach it as the API server does: by the Service's DNS name, trusting nothing but the caBundle.
/// </summary>
internal sealed class WebhookServer : IAsyncDisposable
{
    public const string Service = "tollgate-webhook";
    public const string Namespace = "tollgate-system";

    private readonly WebhookHost _host;
    private readonly List<HttpClient> _clients = [];

    private WebhookServer(WebhookHost host, ServingCertificate certificate, ServingCertificateSource source)
    {
        _host = host;
        Certificate = certificate;
        Source = source;
    }

    public ServingCertificate Certificate { get; }

    public ServingCertificateSource Source { get; }

    public int Port => _host.BaseUri.Port;

    /// <summary>The address the API server dials: <c>https://&lt;svc&gt;.&lt;ns&gt;.svc:&lt;port&gt;/</c>.</summary>
    public Uri ServiceUri => new($"https://{Service}.{Namespace}.svc:{Port}/");

    /// <summary>Thumbprints of the certificates servers presented to this server's clients, in order.</summary>
    public List<string> PresentedCertificates { get; } = [];

    public static async Task<WebhookServer> StartAsync(INamespaceLookup namespaces, SidecarOptions? sidecar = null, Tollgate.Operator.KeyBroker.KeyBrokerEndpoint? keyBroker = null)
    {
        // Through the Secret's format, as a replica that did not issue the certificate would load it.
        // Real clock: clients check the certificate's validity against it in a real TLS handshake; no fixed date is involved.
        var certificate = ServingCertificate.FromSecretData(WebhookCertificates.Issue(Service, Namespace, TimeProvider.System).ToSecretData())!;
        var source = new ServingCertificateSource(certificate);
        var host = WebhookHost.Create(
            new WebhookHostOptions { ListenAddress = "127.0.0.1", Port = 0 },
            sidecar ?? PodManifests.Options(),
            namespaces,
            source,
            logging => logging.SetMinimumLevel(LogLevel.Warning),
            keyBroker);
        await host.StartAsync();
        return new WebhookServer(host, certificate, source);
    }

    /// <summary>A client that connects to this server's port whatever the host name, and trusts only <paramref name="trustedCas"/>.</summary>
    public HttpClient CreateClient(X509Certificate2Collection trustedCas)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) => TrustOnly(trustedCas, certificate, errors),
            },
            PooledConnectionLifetime = TimeSpan.Zero,
        };
        var client = new HttpClient(handler) { BaseAddress = ServiceUri };
        _clients.Add(client);
        return client;
    }

    public HttpClient CreateClient() => CreateClient(Certificate.TrustedCas());

    /// <summary>Posts an AdmissionReview for creating <paramref name="pod"/> and returns the review that came back.</summary>
    public async Task<JsonObject> ReviewAsync(JsonObject pod, string podNamespace, string uid, string operation = "CREATE")
    {
        var response = await CreateClient().PostAsJsonAsync(AdmissionEndpoint.Path.TrimStart('/'), Review(pod, podNamespace, uid, operation));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    /// <summary>An AdmissionReview as the API server sends it, with the fields the webhook does not read too.</summary>
    public static JsonObject Review(JsonObject pod, string podNamespace, string uid, string operation = "CREATE") => new()
    {
        ["apiVersion"] = "admission.k8s.io/v1",
        ["kind"] = "AdmissionReview",
        ["request"] = new JsonObject
        {
            ["uid"] = uid,
            ["kind"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["kind"] = "Pod" },
            ["resource"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["resource"] = "pods" },
            ["requestKind"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["kind"] = "Pod" },
            ["requestResource"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["resource"] = "pods" },
            ["name"] = pod["metadata"]?["name"]?.DeepClone(),
            ["namespace"] = podNamespace,
            ["operation"] = operation,
            ["userInfo"] = new JsonObject { ["username"] = "system:serviceaccount:kube-system:job-controller", ["groups"] = new JsonArray("system:serviceaccounts", "system:authenticated") },
            ["object"] = pod.DeepClone(),
            ["oldObject"] = null,
            ["dryRun"] = false,
            ["options"] = new JsonObject { ["apiVersion"] = "meta.k8s.io/v1", ["kind"] = "CreateOptions" },
        },
    };

    private bool TrustOnly(X509Certificate2Collection trustedCas, X509Certificate? certificate, SslPolicyErrors errors)
    {
        // A name mismatch or no certificate is never forgiven; only the chain is checked again, against the CA alone.
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        lock (PresentedCertificates)
        {
            PresentedCertificates.Add(leaf.Thumbprint);
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trustedCas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await _host.DisposeAsync();
        Certificate.Dispose();
    }
}
