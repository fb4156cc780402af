using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;
using Tollgate.TestSupport.FakeKubernetes;

namespace Tollgate.FakeKubernetes.Tests;

/// <summary>TokenRequest and TokenReview as kube-apiserver answers them, through the real KubernetesClient.</summary>
public sealed class TokenTests
{
    private const string Audience = "tollgate.io/meter";
    private static readonly DateTimeOffset Start = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);

    private static async Task<(FakeCluster Cluster, V1Pod Pod)> ClusterWithPodAsync(TimeProvider? time = null)
    {
        var cluster = await StartAsync(time);
        cluster.Api.EnsureNamespace("ci");
        cluster.Api.EnsureServiceAccount("ci", "runner");
        var pod = await cluster.Client.CoreV1.CreateNamespacedPodAsync(
            new V1Pod
            {
                Metadata = new V1ObjectMeta { Name = "job-1" },
                Spec = new V1PodSpec { ServiceAccountName = "runner", Containers = [new V1Container { Name = "job", Image = "busybox" }] },
            },
            "ci");
        return (cluster, pod);
    }

    private static async Task<FakeCluster> StartAsync(TimeProvider? time)
    {
        if (time is null)
        {
            return await FakeCluster.StartAsync();
        }

        // FakeCluster builds its own server; a clock needs one built here.
        var api = new FakeKubernetesApi(time);
        await api.StartAsync();
        return FakeCluster.Of(api);
    }

    private static Task<V1TokenReview> ReviewAsync(FakeCluster cluster, string token, params string[] audiences) =>
        cluster.Client.AuthenticationV1.CreateTokenReviewAsync(new V1TokenReview
        {
            Spec = new V1TokenReviewSpec { Token = token, Audiences = audiences.Length == 0 ? null : audiences },
        });

    [Fact]
    public async Task A_pod_token_reviewed_for_its_audience_names_the_service_account_and_the_pod()
    {
        var (cluster, pod) = await ClusterWithPodAsync();
        await using var _ = cluster;
        var token = cluster.Api.IssuePodToken("ci", "job-1", [Audience, "other"]);

        var review = await ReviewAsync(cluster, token, Audience);

        Assert.True(review.Status.Authenticated);
        Assert.Equal("system:serviceaccount:ci:runner", review.Status.User.Username);
        Assert.Equal([Audience], review.Status.Audiences);
        Assert.Equal(["job-1"], review.Status.User.Extra[FakeKubernetesApi.PodNameExtra]);
        Assert.Equal([pod.Metadata.Uid], review.Status.User.Extra[FakeKubernetesApi.PodUidExtra]);
        Assert.Contains("system:serviceaccounts:ci", review.Status.User.Groups);
        Assert.Null(review.Status.Error);
    }

    [Fact]
    public async Task Tokens_look_like_service_account_jwts_with_exp_and_the_kubernetes_claims()
    {
        var (cluster, pod) = await ClusterWithPodAsync();
        await using var _ = cluster;

        var token = cluster.Api.IssuePodToken("ci", "job-1", [Audience], TimeSpan.FromMinutes(10));

        var parts = token.Split('.');
        Assert.Equal(3, parts.Length);
        var claims = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(Pad(parts[1]))))!;
        Assert.Equal(600, claims["exp"]!.GetValue<long>() - claims["iat"]!.GetValue<long>());
        Assert.Equal(Audience, claims["aud"]![0]!.GetValue<string>());
        Assert.Equal(pod.Metadata.Uid, claims["kubernetes.io"]!["pod"]!["uid"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")]
    public async Task A_token_the_server_did_not_issue_is_unauthenticated(string token)
    {
        await using var cluster = await FakeCluster.StartAsync();

        var review = await ReviewAsync(cluster, token, Audience);

        Assert.NotEqual(true, review.Status.Authenticated);
        Assert.Contains("invalid bearer token", review.Status.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_edited_token_is_unauthenticated()
    {
        var (cluster, _) = await ClusterWithPodAsync();
        await using var __ = cluster;
        var token = cluster.Api.IssuePodToken("ci", "job-1", [Audience]);

        var review = await ReviewAsync(cluster, token[..^2] + (token[^2] == 'A' ? "BA" : "AA"), Audience);

        Assert.NotEqual(true, review.Status.Authenticated);
    }

    [Fact]
    public async Task A_token_for_another_audience_is_unauthenticated_and_no_audience_means_the_api_servers()
    {
        var (cluster, _) = await ClusterWithPodAsync();
        await using var __ = cluster;
        var apiToken = cluster.Api.IssuePodToken("ci", "job-1", []);
        var meterToken = cluster.Api.IssuePodToken("ci", "job-1", [Audience]);

        var wrong = await ReviewAsync(cluster, apiToken, Audience);
        var defaulted = await ReviewAsync(cluster, meterToken);
        var api = await ReviewAsync(cluster, apiToken);

        Assert.NotEqual(true, wrong.Status.Authenticated);
        Assert.Contains("is invalid for the target audiences", wrong.Status.Error, StringComparison.Ordinal);
        Assert.NotEqual(true, defaulted.Status.Authenticated);
        Assert.True(api.Status.Authenticated);
        Assert.Equal([FakeKubernetesApi.DefaultApiAudience], api.Status.Audiences);
    }

    [Fact]
    public async Task A_token_is_unauthenticated_from_its_expiry_on()
    {
        var time = new FakeTimeProvider(Start);
        var (cluster, _) = await ClusterWithPodAsync(time);
        await using var __ = cluster;
        var token = cluster.Api.IssuePodToken("ci", "job-1", [Audience], TimeSpan.FromMinutes(10));

        time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        var before = await ReviewAsync(cluster, token, Audience);
        time.Advance(TimeSpan.FromSeconds(1));
        var after = await ReviewAsync(cluster, token, Audience);

        Assert.True(before.Status.Authenticated);
        Assert.NotEqual(true, after.Status.Authenticated);
        Assert.Contains("expired", after.Status.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pod_token_dies_with_its_pod_and_is_not_revived_by_a_pod_of_the_same_name()
    {
        var (cluster, pod) = await ClusterWithPodAsync();
        await using var _ = cluster;
        var token = cluster.Api.IssuePodToken("ci", "job-1", [Audience]);

        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("job-1", "ci");
        var gone = await ReviewAsync(cluster, token, Audience);
        pod.Metadata.Uid = null;
        pod.Metadata.ResourceVersion = null;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, "ci");
        var recreated = await ReviewAsync(cluster, token, Audience);

        Assert.NotEqual(true, gone.Status.Authenticated);
        Assert.NotEqual(true, recreated.Status.Authenticated);
        Assert.Contains("does not match claim", recreated.Status.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_of_a_deleted_service_account_is_unauthenticated()
    {
        var (cluster, _) = await ClusterWithPodAsync();
        await using var __ = cluster;
        var token = cluster.Api.IssuePodToken("ci", "job-1", [Audience]);

        await cluster.Client.CoreV1.DeleteNamespacedServiceAccountAsync("runner", "ci");

        Assert.NotEqual(true, (await ReviewAsync(cluster, token, Audience)).Status.Authenticated);
    }

    [Fact]
    public async Task An_empty_token_is_a_bad_request()
    {
        await using var cluster = await FakeCluster.StartAsync();

        var (code, status) = await FakeCluster.FailureOf(() => ReviewAsync(cluster, string.Empty));

        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("token is required for TokenReview in authentication", status["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Token_request_bound_to_a_pod_gives_a_pod_token_that_reviews_as_that_pod()
    {
        var (cluster, pod) = await ClusterWithPodAsync();
        await using var _ = cluster;

        var issued = await cluster.Client.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest
            {
                Spec = new V1TokenRequestSpec
                {
                    Audiences = [Audience],
                    ExpirationSeconds = 600,
                    BoundObjectRef = new V1BoundObjectReference { Kind = "Pod", ApiVersion = "v1", Name = "job-1", Uid = pod.Metadata.Uid },
                },
            },
            "runner",
            "ci");
        var review = await ReviewAsync(cluster, issued.Status.Token, Audience);

        Assert.True(review.Status.Authenticated);
        Assert.Equal([pod.Metadata.Uid], review.Status.User.Extra[FakeKubernetesApi.PodUidExtra]);
    }

    [Fact]
    public async Task Token_request_refuses_a_pod_of_another_service_account_a_wrong_uid_and_a_short_lifetime()
    {
        var (cluster, _) = await ClusterWithPodAsync();
        await using var __ = cluster;
        cluster.Api.EnsureServiceAccount("ci", "default");
        Task Request(string sa, string? uid, long seconds) => cluster.Client.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest
            {
                Spec = new V1TokenRequestSpec
                {
                    Audiences = [Audience],
                    ExpirationSeconds = seconds,
                    BoundObjectRef = new V1BoundObjectReference { Kind = "Pod", ApiVersion = "v1", Name = "job-1", Uid = uid },
                },
            },
            sa,
            "ci");

        Assert.Equal(HttpStatusCode.BadRequest, (await FakeCluster.FailureOf(() => Request("default", null, 600))).Code);
        Assert.Equal(HttpStatusCode.Conflict, (await FakeCluster.FailureOf(() => Request("runner", Guid.NewGuid().ToString(), 600))).Code);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await FakeCluster.FailureOf(() => Request("runner", null, 599))).Code);
    }

    [Fact]
    public async Task Issuing_for_a_missing_pod_or_service_account_is_refused()
    {
        await using var cluster = await FakeCluster.StartAsync();
        cluster.Api.EnsureNamespace("ci");

        Assert.Throws<InvalidOperationException>(() => cluster.Api.IssuePodToken("ci", "nope", [Audience]));
        Assert.Throws<InvalidOperationException>(() => cluster.Api.IssueServiceAccountToken("ci", "nope", [Audience]));
    }

    private static string Pad(string base64Url)
    {
        var s = base64Url.Replace('-', '+').Replace('_', '/');
        return s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
    }
}
