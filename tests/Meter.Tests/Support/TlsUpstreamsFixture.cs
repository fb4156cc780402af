using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Tollgate.Meter.Tests.Support;

/// <summary>
/// Strict HTTPS fake providers sharing one test CA (written as the PEM bundle the meter gets with
/// <c>--upstream-ca</c>): two that offer HTTP/2 and HTTP/1.1 (a primary and a second routing target), one that offers
/// HTTP/1.1 only, and one whose certificate comes from a CA the bundle does not hold.
/// </summary>
public sealed class TlsUpstreamsFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-tls-").FullName;

    public TestCertificateAuthority Authority { get; } = TestCertificateAuthority.Create();

    public TestCertificateAuthority StrangerAuthority { get; } = TestCertificateAuthority.Create();

    public string CaPath => Path.Combine(_directory, "ca.pem");

    public FakeLlmUpstream Primary { get; private set; } = null!;

    public FakeLlmUpstream Secondary { get; private set; } = null!;

    public FakeLlmUpstream Http11Only { get; private set; } = null!;

    public FakeLlmUpstream Stranger { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Authority.WritePem(CaPath);
        Primary = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true, CertificateAuthority = Authority });
        Secondary = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true, CertificateAuthority = Authority });
        Http11Only = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true, CertificateAuthority = Authority, Protocols = HttpProtocols.Http1 });
        Stranger = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true, CertificateAuthority = StrangerAuthority });
    }

    public async Task DisposeAsync()
    {
        foreach (var upstream in new[] { Primary, Secondary, Http11Only, Stranger })
        {
            if (upstream is not null)
            {
                await upstream.DisposeAsync();
            }
        }

        Authority.Dispose();
        StrangerAuthority.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
