using System.Net.Http.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Tollgate.Operator.KeyBroker;
using Tollgate.Operator.Tests.Webhooks;
using Tollgate.Operator.Webhooks;
using static Tollgate.Operator.Tests.KeyBroker.BrokerHarness;

namespace Tollgate.Operator.Tests.KeyBroker;

/// <summary>Every decision of the key broker, over TLS, with tokens the fake API server issues and reviews.</summary>
public sealed class KeyBrokerEndpointTests
{
    [Fact]
    public async Task The_injected_meters_token_gets_the_provider_keys_the_rules_secrets_and_the_ledger_credentials()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-1");

        var (status, body, response) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(200, status);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoStore);
        Assert.Equal("""{"anthropic":"sk-ant-broker","openai":"sk-openai-broker"}""", body["providerKeys"]!.ToJsonString());
        // The rule's Secret that does not exist is left out, not an error: the meter skips that target and says why.
        Assert.Equal($$$"""{"{{{RouteSecret}}}":{"apiKey":"sk-route-ci"}}""", body["secrets"]!.ToJsonString());
        Assert.Equal("""{"user":"tollgate-meter","password":"ledger-pass"}""", body["ledger"]!.ToJsonString());
        Assert.Equal(300, body["refreshSeconds"]!.GetValue<int>());
        Assert.Equal(1, h.Metrics.Of(BrokerOutcome.Issued));
    }

    [Fact]
    public async Task Missing_secrets_give_empty_keys_and_no_ledger_rather_than_an_error()
    {
        await using var h = await StartAsync(withSecrets: false);
        var pod = await h.CreateInjectedPodAsync("pr-review-2");

        var (status, body, _) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(200, status);
        Assert.Equal("{}", body["providerKeys"]!.ToJsonString());
        Assert.Equal("{}", body["secrets"]!.ToJsonString());
        Assert.Null(body["ledger"]);
    }

    [Theory]
    [InlineData(null, "Bearer")]
    [InlineData("", "Bearer")]
    [InlineData("not-a-token", "Basic")]
    public async Task A_request_without_a_bearer_token_is_unauthenticated(string? token, string scheme)
    {
        await using var h = await StartAsync();

        var (status, body, _) = await h.AskAsync(token, scheme: scheme);

        Assert.Equal(401, status);
        Assert.Equal("unauthenticated", body["error"]!["type"]!.GetValue<string>());
        Assert.Empty(h.Api.TokenReviews);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl")]
    public async Task A_token_the_api_server_did_not_issue_is_unauthenticated(string token)
    {
        await using var h = await StartAsync();

        var (status, body, _) = await h.AskAsync(token);

        Assert.Equal(401, status);
        Assert.Contains("did not authenticate", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Single(h.Api.TokenReviews);
    }

    [Fact]
    public async Task A_token_longer_than_any_service_account_token_is_refused_without_a_review()
    {
        await using var h = await StartAsync();

        var (status, _, _) = await h.AskAsync(new string('a', KeyBrokerEndpoint.MaxTokenLength + 1));

        Assert.Equal(401, status);
        Assert.Empty(h.Api.TokenReviews);
    }

    [Fact]
    public async Task The_pods_api_token_or_one_for_another_audience_is_unauthenticated()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-3");
        var apiToken = h.Api.IssuePodToken(pod.Metadata.NamespaceProperty, pod.Metadata.Name, []);
        var otherToken = h.Api.IssuePodToken(pod.Metadata.NamespaceProperty, pod.Metadata.Name, ["vault"]);

        Assert.Equal(401, (await h.AskAsync(apiToken)).Status);
        Assert.Equal(401, (await h.AskAsync(otherToken)).Status);
    }

    [Fact]
    public async Task A_service_account_token_not_bound_to_a_pod_is_unauthenticated()
    {
        await using var h = await StartAsync();
        var token = h.Api.IssueServiceAccountToken(Metered.Name, ServiceAccount, [Audience]);

        var (status, body, _) = await h.AskAsync(token);

        Assert.Equal(401, status);
        Assert.Contains("not bound to a pod", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_token_is_unauthenticated_and_a_cached_review_does_not_outlive_the_token()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-4");
        var token = h.MeterToken(pod, TimeSpan.FromSeconds(30));

        var fresh = await h.AskAsync(token);
        h.Time.Advance(TimeSpan.FromSeconds(31));
        var expired = await h.AskAsync(token);

        Assert.Equal(200, fresh.Status);
        Assert.Equal(401, expired.Status);
        Assert.Contains("expired", expired.Body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_successful_review_is_reused_for_a_minute_and_then_asked_again()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-5");
        var token = h.MeterToken(pod);

        await h.AskAsync(token);
        await h.AskAsync(token);
        h.Time.Advance(TimeSpan.FromSeconds(61));
        var third = await h.AskAsync(token);

        Assert.Equal(200, third.Status);
        Assert.Equal(2, h.Api.TokenReviews.Count);
    }

    [Fact]
    public async Task A_token_of_a_pod_in_a_namespace_that_is_not_metered_is_forbidden()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("web-1", PodManifests.PlainNamespace, yaml: PodManifests.UnmeteredNamespacePod);

        var (status, body, _) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(403, status);
        Assert.Equal("forbidden", body["error"]!["type"]!.GetValue<string>());
        Assert.Contains("namespace default is not metered", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_pods_token_is_unauthenticated_and_with_a_cached_review_forbidden()
    {
        await using var h = await StartAsync();
        var reviewed = await h.CreateInjectedPodAsync("pr-review-6");
        var cachedToken = h.MeterToken(reviewed);
        Assert.Equal(200, (await h.AskAsync(cachedToken)).Status);
        var other = await h.CreateInjectedPodAsync("pr-review-7");
        var freshToken = h.MeterToken(other);

        await h.Client.CoreV1.DeleteNamespacedPodAsync(reviewed.Metadata.Name, Metered.Name);
        await h.Client.CoreV1.DeleteNamespacedPodAsync(other.Metadata.Name, Metered.Name);
        var cached = await h.AskAsync(cachedToken);
        var fresh = await h.AskAsync(freshToken);

        Assert.Equal((403, "forbidden"), (cached.Status, cached.Body["error"]!["type"]!.GetValue<string>()));
        Assert.Contains("does not exist", cached.Body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(401, fresh.Status);
    }

    [Fact]
    public async Task A_pod_recreated_under_the_same_name_is_not_the_pod_the_token_was_bound_to()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-8");
        var token = h.MeterToken(pod);
        Assert.Equal(200, (await h.AskAsync(token)).Status);

        await h.Client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, Metered.Name);
        await h.CreateInjectedPodAsync("pr-review-8");
        var (status, body, _) = await h.AskAsync(token);

        Assert.Equal(403, status);
        Assert.Contains("uid differs", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_terminating_pod_gets_nothing()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-9", edit: p => p["metadata"]!["finalizers"] = new JsonArray("example.com/hold"));
        var token = h.MeterToken(pod);

        await h.Client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, Metered.Name);
        var (status, body, _) = await h.AskAsync(token);

        Assert.Equal(403, status);
        Assert.Contains("terminating", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pod_without_the_meter_gets_nothing()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("plain-1", edit: p =>
        {
            // As written, without the webhook's patch.
            var original = PodManifests.Json(PodManifests.JobPod);
            p["spec"] = original["spec"]!.DeepClone();
            p["spec"]!["serviceAccountName"] = ServiceAccount;
        });

        var (status, body, _) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(403, status);
        Assert.Contains("does not carry the meter", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_opted_out_pod_gets_nothing_even_where_opting_out_is_allowed()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("local-model-1", PodManifests.OptOutNamespace, yaml: PodManifests.OptedOutPod);

        var (status, body, _) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(403, status);
        Assert.Contains("opted out", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("args")]
    [InlineData("image")]
    [InlineData("jobMountsIdentity")]
    [InlineData("jobDeclaresOwnToken")]
    public async Task A_pod_whose_meter_or_custody_differs_from_what_the_webhook_injects_gets_nothing(string change)
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("tampered-1", edit: p =>
        {
            var meter = p["spec"]!["initContainers"]![0]!;
            switch (change)
            {
                case "args":
                    meter["args"]!.AsArray().Add("--allow-unmetered");
                    break;
                case "image":
                    meter["image"] = "registry.example.com/tollgate/meter:evil";
                    break;
                case "jobMountsIdentity":
                    p["spec"]!["containers"]![0]!["volumeMounts"]!.AsArray().Add(new JsonObject { ["name"] = SidecarInjector.IdentityVolume, ["mountPath"] = "/steal" });
                    break;
                default:
                    p["spec"]!["volumes"]!.AsArray().Add(JsonNode.Parse($$"""{ "name": "mine", "projected": { "sources": [ { "serviceAccountToken": { "audience": "{{Audience}}", "path": "t" } } ] } }"""));
                    break;
            }
        });

        var (status, _, _) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(403, status);
    }

    [Fact]
    public async Task A_token_whose_service_account_is_not_the_one_the_pod_runs_as_gets_nothing()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-10");
        var token = h.MeterToken(pod);

        // A real API server keeps serviceAccountName immutable; the fake lets the test make the pod disagree with the token.
        pod.Spec.ServiceAccountName = "default";
        await h.Client.CoreV1.ReplaceNamespacedPodAsync(pod, pod.Metadata.Name, Metered.Name);
        var (status, body, _) = await h.AskAsync(token);

        Assert.Equal(403, status);
        Assert.Contains("service account default", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("create", "/apis/authentication.k8s.io/v1/tokenreviews", 503)]
    [InlineData("get", "/api/v1/namespaces/ci-payments/pods/", 500)]
    [InlineData("get", "/api/v1/namespaces/tollgate-system/secrets/", 429)]
    public async Task An_api_server_that_fails_makes_the_answer_unavailable(string verb, string path, int code)
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-11");
        h.Api.FailNext(verb, path, code);

        var (status, body, response) = await h.AskAsync(h.MeterToken(pod));

        Assert.Equal(503, status);
        Assert.Equal("unavailable", body["error"]!["type"]!.GetValue<string>());
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(1, h.Metrics.Of(BrokerOutcome.Unavailable));
    }

    [Fact]
    public async Task An_api_server_that_is_gone_makes_the_answer_unavailable()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-12");
        var token = h.MeterToken(pod);

        await h.Api.DisposeAsync();
        var (status, _, _) = await h.AskAsync(token);

        Assert.Equal(503, status);
    }

    [Fact]
    public async Task Only_an_empty_post_is_served()
    {
        await using var h = await StartAsync();
        var pod = await h.CreateInjectedPodAsync("pr-review-13");
        var token = h.MeterToken(pod);

        var get = await h.AskAsync(token, HttpMethod.Get);
        var withBody = await h.AskAsync(token, content: JsonContent.Create(new { pod = "someone-else" }));

        Assert.Equal(405, get.Status);
        Assert.Equal(["POST"], get.Response.Content.Headers.Allow);
        Assert.Equal(400, withBody.Status);
        Assert.Empty(h.Api.TokenReviews);
        Assert.Equal(2, h.Metrics.Of(BrokerOutcome.BadRequest));
    }
}
