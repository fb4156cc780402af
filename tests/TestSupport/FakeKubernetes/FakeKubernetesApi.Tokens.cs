using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// Service-account tokens as kube-apiserver issues and reviews them: the TokenRequest subresource
/// (<c>POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token</c>), what the kubelet does for a projected
/// <c>serviceAccountToken</c> volume (<see cref="IssuePodToken"/>), and TokenReview
/// (<c>POST /apis/authentication.k8s.io/v1/tokenreviews</c>).
/// </summary>
/// <remarks>
/// Tokens are JWT-shaped (header.claims.signature, with the claims the real issuer writes: <c>aud</c>, <c>exp</c>,
/// <c>iat</c>, <c>nbf</c>, <c>jti</c>, <c>sub</c> and the <c>kubernetes.io</c> private claims), so a client that reads
/// <c>exp</c> to bound a cache sees what it would see in a cluster. A token is valid only if this server issued exactly
/// that string: any edit, forgery or token of another server is unauthenticated. As the real validator does, a review
/// also fails once the token expired (no leeway here: stricter than the real one-minute-free path), when no audience of
/// the token is among the audiences asked for (the API server's own when none are), when the service account is gone or
/// was recreated (uid), and for a pod-bound token when the pod is gone, was recreated, or has been terminating for over
/// 60 seconds. Authorization of the reviewer (RBAC <c>create tokenreviews</c>) is not modelled, like all of RBAC here.
/// </remarks>
public sealed partial class FakeKubernetesApi
{
    /// <summary>The API server's audience (<c>--api-audiences</c>): used when a TokenRequest or TokenReview names none.</summary>
    public const string DefaultApiAudience = "https://kubernetes.default.svc.cluster.local";

    public const string PodNameExtra = "authentication.kubernetes.io/pod-name";
    public const string PodUidExtra = "authentication.kubernetes.io/pod-uid";
    public const string CredentialIdExtra = "authentication.kubernetes.io/credential-id";

    private const string Issuer = "https://kubernetes.default.svc.cluster.local";
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromHours(1);
    private static readonly TimeSpan MinimumTokenLifetime = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan DeletedPodGrace = TimeSpan.FromSeconds(60);

    private readonly Dictionary<string, IssuedToken> _tokens = new(StringComparer.Ordinal);
    private readonly byte[] _signingKey = RandomNumberGenerator.GetBytes(32);
    private readonly List<(string, bool)> _reviews = [];

    /// <summary>Every TokenReview answered, oldest first: what was asked (token hashed) and the verdict.</summary>
    public IReadOnlyList<(string TokenSha256, bool Authenticated)> TokenReviews
    {
        get
        {
            lock (_gate)
            {
                return _reviews.ToArray();
            }
        }
    }

    /// <summary>
    /// What the kubelet does for a projected <c>serviceAccountToken</c> source: a TokenRequest for the pod's service
    /// account (<c>spec.serviceAccountName</c>, else <c>default</c>), bound to the pod's name and uid.
    /// </summary>
    /// <exception cref="InvalidOperationException">The pod or its service account does not exist, as the real TokenRequest would refuse.</exception>
    public string IssuePodToken(string @namespace, string podName, IReadOnlyList<string> audiences, TimeSpan? lifetime = null)
    {
        lock (_gate)
        {
            var pod = _objects.GetValueOrDefault(new ObjectKey(new ResourceIdentity("", "pods"), @namespace, podName))
                ?? throw new InvalidOperationException($"pods \"{podName}\" not found in {@namespace}");
            var serviceAccount = Json.Str(pod["spec"]?["serviceAccountName"]) is { Length: > 0 } sa ? sa : "default";
            return Unwrapped(() => IssueLocked(@namespace, serviceAccount, audiences, lifetime ?? DefaultTokenLifetime, pod));
        }
    }

    /// <summary>A token of a service account that is bound to nothing (what a TokenRequest without boundObjectRef returns).</summary>
    public string IssueServiceAccountToken(string @namespace, string serviceAccount, IReadOnlyList<string> audiences, TimeSpan? lifetime = null)
    {
        lock (_gate)
        {
            return Unwrapped(() => IssueLocked(@namespace, serviceAccount, audiences, lifetime ?? DefaultTokenLifetime, pod: null));
        }
    }

    /// <summary>Creates the service account unless it exists (the namespace's service-account controller does this for <c>default</c>).</summary>
    public void EnsureServiceAccount(string @namespace, string name)
    {
        lock (_gate)
        {
            if (!_objects.ContainsKey(new ObjectKey(new ResourceIdentity("", "serviceaccounts"), @namespace, name)))
            {
                CreateLocked(
                    Resolve("", "v1", "serviceaccounts"),
                    @namespace,
                    new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ServiceAccount", ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = @namespace } },
                    dryRun: false);
            }
        }
    }

    /// <summary>The authentication routes, or null for any other path.</summary>
    private Func<string, (int Code, JsonNode Body)>? TokenRoute(string method, string path)
    {
        var segments = path.Trim('/').Split('/');
        return segments switch
        {
            ["apis", "authentication.k8s.io", "v1", "tokenreviews"] => method == "POST"
                ? ReviewToken
                : throw new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"),
            ["api", "v1", "namespaces", var ns, "serviceaccounts", var sa, "token"] => method == "POST"
                ? body => RequestToken(ns, sa, body)
                : throw new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"),
            _ => null,
        };
    }

    private (int, JsonNode) ReviewToken(string body)
    {
        var review = Json.Parse(body, "TokenReview");
        if (Json.Str(review["kind"]) is { } kind && kind != "TokenReview")
        {
            throw ApiError.BadRequest($"Object 'Kind' is \"{kind}\", expected \"TokenReview\"");
        }

        var token = Json.Str(review["spec"]?["token"]) ?? "";
        if (token.Length == 0)
        {
            throw ApiError.BadRequest("token is required for TokenReview in authentication");
        }

        var asked = review["spec"]?["audiences"] is JsonArray list && list.Count > 0
            ? list.Select(Json.Str).OfType<string>().ToList()
            : [DefaultApiAudience];
        JsonObject status;
        lock (_gate)
        {
            status = Verify(token, asked);
            _reviews.Add((Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token))), status["authenticated"] is not null));
        }

        var answer = new JsonObject
        {
            ["kind"] = "TokenReview",
            ["apiVersion"] = "authentication.k8s.io/v1",
            ["metadata"] = new JsonObject { ["creationTimestamp"] = null },
            ["spec"] = review["spec"]!.DeepClone(),
            ["status"] = status,
        };
        return (201, answer);
    }

    /// <summary>The TokenReview status for <paramref name="token"/>; the caller holds the lock.</summary>
    private JsonObject Verify(string token, List<string> asked)
    {
        static JsonObject Unauthenticated(string error) => new() { ["user"] = new JsonObject(), ["error"] = error };

        if (!_tokens.TryGetValue(token, out var issued))
        {
            return Unauthenticated("[invalid bearer token, square/go-jose: error in cryptographic primitive, token lookup failed]");
        }

        var now = _time.GetUtcNow();
        if (now >= issued.Expires)
        {
            return Unauthenticated("[invalid bearer token, service account token has expired]");
        }

        if (now < issued.NotBefore)
        {
            return Unauthenticated("[invalid bearer token, service account token is not valid yet]");
        }

        var audiences = issued.Audiences.Where(asked.Contains).ToList();
        if (audiences.Count == 0)
        {
            return Unauthenticated($"[invalid bearer token, token audiences [{Quoted(issued.Audiences)}] is invalid for the target audiences [{Quoted(asked)}]]");
        }

        var account = _objects.GetValueOrDefault(new ObjectKey(new ResourceIdentity("", "serviceaccounts"), issued.Namespace, issued.ServiceAccount));
        if (account is null || Json.Str(account["metadata"]?["uid"]) != issued.ServiceAccountUid)
        {
            return Unauthenticated($"[invalid bearer token, service account {issued.Namespace}/{issued.ServiceAccount} has been deleted or recreated]");
        }

        var extra = new JsonObject { [CredentialIdExtra] = new JsonArray($"JTI={issued.Id}") };
        if (issued.PodName is not null)
        {
            var pod = _objects.GetValueOrDefault(new ObjectKey(new ResourceIdentity("", "pods"), issued.Namespace, issued.PodName));
            if (pod is null)
            {
                return Unauthenticated($"[invalid bearer token, pod \"{issued.PodName}\" not found]");
            }

            if (Json.Str(pod["metadata"]?["uid"]) != issued.PodUid)
            {
                return Unauthenticated($"[invalid bearer token, pod UID ({Json.Str(pod["metadata"]?["uid"])}) does not match claim ({issued.PodUid})]");
            }

            if (Json.Str(pod["metadata"]?["deletionTimestamp"]) is { } deleting
                && DateTimeOffset.Parse(deleting, CultureInfo.InvariantCulture) < now - DeletedPodGrace)
            {
                return Unauthenticated("[invalid bearer token, token has been invalidated]");
            }

            extra[PodNameExtra] = new JsonArray(issued.PodName);
            extra[PodUidExtra] = new JsonArray(issued.PodUid);
        }

        return new JsonObject
        {
            ["authenticated"] = true,
            ["user"] = new JsonObject
            {
                ["username"] = $"system:serviceaccount:{issued.Namespace}:{issued.ServiceAccount}",
                ["uid"] = issued.ServiceAccountUid,
                ["groups"] = new JsonArray("system:serviceaccounts", $"system:serviceaccounts:{issued.Namespace}", "system:authenticated"),
                ["extra"] = extra,
            },
            ["audiences"] = new JsonArray([.. audiences.Select(a => (JsonNode)a)]),
        };
    }

    private (int, JsonNode) RequestToken(string ns, string serviceAccount, string body)
    {
        var request = Json.Parse(body, "TokenRequest");
        var spec = request["spec"] as JsonObject ?? [];
        var audiences = spec["audiences"] is JsonArray list && list.Count > 0 ? list.Select(Json.Str).OfType<string>().ToList() : [DefaultApiAudience];
        var lifetime = Json.Long(spec["expirationSeconds"]) is { } seconds ? TimeSpan.FromSeconds(seconds) : DefaultTokenLifetime;
        var tokenRequests = new ApiResource("authentication.k8s.io", "v1", "serviceaccounts", "TokenRequest", Namespaced: true);
        if (lifetime < MinimumTokenLifetime)
        {
            throw ApiError.Invalid(tokenRequests, serviceAccount, [FieldError.InvalidValue("spec.expirationSeconds", ((long)lifetime.TotalSeconds).ToString(CultureInfo.InvariantCulture), "may not specify a duration less than 10 minutes")]);
        }

        lock (_gate)
        {
            JsonObject? pod = null;
            if (spec["boundObjectRef"] is JsonObject bound)
            {
                var kind = Json.Str(bound["kind"]);
                if (kind != "Pod")
                {
                    throw ApiError.BadRequest($"cannot bind token to object of type {kind}: this fake binds to Pods only");
                }

                var name = Json.Str(bound["name"]) ?? "";
                pod = _objects.GetValueOrDefault(new ObjectKey(new ResourceIdentity("", "pods"), ns, name))
                    ?? throw ApiError.NotFound(Resolve("", "v1", "pods"), name);
                var uid = Json.Str(pod["metadata"]?["uid"]);
                if (Json.Str(bound["uid"]) is { Length: > 0 } claimed && claimed != uid)
                {
                    throw new ApiError(409, "Conflict", $"Operation cannot be fulfilled on pod \"{name}\": the UID in the bound object reference ({claimed}) does not match the UID in record. The object might have been deleted and then recreated");
                }

                var runsAs = Json.Str(pod["spec"]?["serviceAccountName"]) is { Length: > 0 } sa ? sa : "default";
                if (runsAs != serviceAccount)
                {
                    throw ApiError.BadRequest($"cannot bind token for serviceaccount \"{serviceAccount}\" to pod running with different serviceaccount name.");
                }
            }

            var token = IssueLocked(ns, serviceAccount, audiences, lifetime, pod);
            var answer = new JsonObject
            {
                ["kind"] = "TokenRequest",
                ["apiVersion"] = "authentication.k8s.io/v1",
                ["metadata"] = new JsonObject { ["name"] = serviceAccount, ["namespace"] = ns, ["creationTimestamp"] = null },
                ["spec"] = spec.DeepClone(),
                ["status"] = new JsonObject { ["token"] = token, ["expirationTimestamp"] = Json.Timestamp(_tokens[token].Expires) },
            };
            answer["spec"]!["expirationSeconds"] = (long)lifetime.TotalSeconds;
            answer["spec"]!["audiences"] = new JsonArray([.. audiences.Select(a => (JsonNode)a)]);
            return (201, answer);
        }
    }

    private string IssueLocked(string ns, string serviceAccount, IReadOnlyList<string> audiences, TimeSpan lifetime, JsonObject? pod)
    {
        var account = _objects.GetValueOrDefault(new ObjectKey(new ResourceIdentity("", "serviceaccounts"), ns, serviceAccount))
            ?? throw new ApiError(404, "NotFound", $"serviceaccounts \"{serviceAccount}\" not found");
        if (audiences.Count == 0)
        {
            audiences = [DefaultApiAudience];
        }

        var now = _time.GetUtcNow();
        var issued = new IssuedToken(
            Guid.NewGuid().ToString(),
            ns,
            serviceAccount,
            Json.Str(account["metadata"]?["uid"]) ?? "",
            pod is null ? null : Json.Name(pod),
            pod is null ? null : Json.Str(pod["metadata"]?["uid"]),
            [.. audiences],
            now,
            now + lifetime);
        var token = Encode(issued);
        _tokens[token] = issued;
        return token;
    }

    private string Encode(IssuedToken issued)
    {
        var claims = new JsonObject
        {
            ["aud"] = new JsonArray([.. issued.Audiences.Select(a => (JsonNode)a)]),
            ["exp"] = issued.Expires.ToUnixTimeSeconds(),
            ["iat"] = issued.NotBefore.ToUnixTimeSeconds(),
            ["iss"] = Issuer,
            ["jti"] = issued.Id,
            ["kubernetes.io"] = new JsonObject
            {
                ["namespace"] = issued.Namespace,
                ["serviceaccount"] = new JsonObject { ["name"] = issued.ServiceAccount, ["uid"] = issued.ServiceAccountUid },
            },
            ["nbf"] = issued.NotBefore.ToUnixTimeSeconds(),
            ["sub"] = $"system:serviceaccount:{issued.Namespace}:{issued.ServiceAccount}",
        };
        if (issued.PodName is not null)
        {
            claims["kubernetes.io"]!["pod"] = new JsonObject { ["name"] = issued.PodName, ["uid"] = issued.PodUid };
        }

        var signed = $"{Base64Url("{\"alg\":\"HS256\",\"kid\":\"tollgate-fake\"}"u8)}.{Base64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()))}";
        return $"{signed}.{Base64Url(HMACSHA256.HashData(_signingKey, Encoding.ASCII.GetBytes(signed)))}";
    }

    private static string Unwrapped(Func<string> issue)
    {
        try
        {
            return issue();
        }
        catch (ApiError e)
        {
            throw new InvalidOperationException($"{e.Code} {e.Reason}: {e.Message}", e);
        }
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Quoted(IEnumerable<string> values) => string.Join(" ", values.Select(v => $"\"{v}\""));

    private sealed record IssuedToken(
        string Id,
        string Namespace,
        string ServiceAccount,
        string ServiceAccountUid,
        string? PodName,
        string? PodUid,
        IReadOnlyList<string> Audiences,
        DateTimeOffset NotBefore,
        DateTimeOffset Expires);
}
