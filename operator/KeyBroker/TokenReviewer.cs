using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.KeyBroker;

/// <summary>The pod a meter token was issued to, as the API server vouches for it.</summary>
public sealed record MeterIdentity(string Namespace, string ServiceAccount, string PodName, string PodUid);

/// <summary>A TokenReview's verdict: the identity, or why there is none.</summary>
public sealed record TokenVerdict(MeterIdentity? Identity, string? Problem)
{
    public static TokenVerdict Refused(string problem) => new(null, problem);
}

/// <summary>
/// Asks the API server (<c>TokenReview</c>, audience <see cref="SidecarInjector.MeterAudience"/>) who a bearer token
/// belongs to, and accepts only a pod-bound service-account token of that audience. Successful reviews are reused
/// from <see cref="TokenReviewCache"/>; failures never are, so a token fixed by the kubelet works at once.
/// </summary>
/// <remarks>
/// The review is the only check of the token itself: this class never trusts the token's own claims, and reads
/// <c>exp</c> from them solely to stop caching a review past the token's end.
/// </remarks>
public sealed class TokenReviewer(IKubernetes client, TokenReviewCache cache, IOptions<KeyBrokerOptions> options)
{
    public const string PodNameExtra = "authentication.kubernetes.io/pod-name";
    public const string PodUidExtra = "authentication.kubernetes.io/pod-uid";
    private const string ServiceAccountPrefix = "system:serviceaccount:";

    /// <exception cref="BrokerUnavailableException">The API server could not be asked.</exception>
    public async Task<TokenVerdict> ReviewAsync(string token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (cache.TryGet(token) is { } cached)
        {
            return new TokenVerdict(cached, null);
        }

        var review = await BrokerApi.CallAsync(
            "review the token",
            options.Value.ApiTimeout,
            ct => client.AuthenticationV1.CreateTokenReviewAsync(
                new V1TokenReview { Spec = new V1TokenReviewSpec { Token = token, Audiences = [SidecarInjector.MeterAudience] } },
                cancellationToken: ct),
            cancellationToken);
        var verdict = Judge(review.Status);
        if (verdict.Identity is { } identity)
        {
            cache.Add(token, identity, ExpiryOf(token));
        }

        return verdict;
    }

    private static TokenVerdict Judge(V1TokenReviewStatus? status)
    {
        if (status?.Authenticated != true)
        {
            return TokenVerdict.Refused($"the API server did not authenticate the token ({status?.Error ?? "no reason given"})");
        }

        if (status.Audiences?.Contains(SidecarInjector.MeterAudience) != true)
        {
            return TokenVerdict.Refused($"the token is not for audience {SidecarInjector.MeterAudience}");
        }

        // system:serviceaccount:<namespace>:<name>; neither part can hold a colon.
        var parts = status.User?.Username?.StartsWith(ServiceAccountPrefix, StringComparison.Ordinal) == true
            ? status.User.Username[ServiceAccountPrefix.Length..].Split(':')
            : [];
        if (parts is not [{ Length: > 0 } ns, { Length: > 0 } serviceAccount])
        {
            return TokenVerdict.Refused("the token is not a service account's");
        }

        var extra = status.User!.Extra;
        if (Single(extra, PodNameExtra) is not { } podName || Single(extra, PodUidExtra) is not { } podUid)
        {
            return TokenVerdict.Refused("the token is not bound to a pod (use a projected serviceAccountToken volume)");
        }

        return new TokenVerdict(new MeterIdentity(ns, serviceAccount, podName, podUid), null);
    }

    private static string? Single(IDictionary<string, IList<string>>? extra, string key) =>
        extra is not null && extra.TryGetValue(key, out var values) && values is [{ Length: > 0 } value] ? value : null;

    /// <summary>The JWT's <c>exp</c>, or null when the token is not a JWT with one (then the review is not cached).</summary>
    internal static DateTimeOffset? ExpiryOf(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length > 8192)
        {
            return null;
        }

        try
        {
            using var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            return claims.RootElement.ValueKind == JsonValueKind.Object
                && claims.RootElement.TryGetProperty("exp", out var exp)
                && exp.TryGetInt64(out var seconds)
                && seconds is > 0 and < 253402300800
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : null;
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// Successful reviews by SHA-256 of the token (the token itself is not kept), each until the earlier of the token's
/// expiry and <see cref="KeyBrokerOptions.ReviewCacheTtl"/>; at most <see cref="KeyBrokerOptions.ReviewCacheCapacity"/>.
/// </summary>
public sealed class TokenReviewCache(TimeProvider time, IOptions<KeyBrokerOptions> options)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (MeterIdentity Identity, DateTimeOffset Until)> _entries = new(StringComparer.Ordinal);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    public MeterIdentity? TryGet(string token)
    {
        var key = Key(token);
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                return null;
            }

            if (time.GetUtcNow() < entry.Until)
            {
                return entry.Identity;
            }

            _entries.Remove(key);
            return null;
        }
    }

    public void Add(string token, MeterIdentity identity, DateTimeOffset? tokenExpiry)
    {
        var now = time.GetUtcNow();
        var until = now + options.Value.ReviewCacheTtl;
        if (tokenExpiry is not { } expiry)
        {
            return;
        }

        if (expiry < until)
        {
            until = expiry;
        }

        if (until <= now)
        {
            return;
        }

        lock (_gate)
        {
            if (_entries.Count >= options.Value.ReviewCacheCapacity)
            {
                foreach (var stale in _entries.Where(e => e.Value.Until <= now).Select(e => e.Key).ToList())
                {
                    _entries.Remove(stale);
                }

                if (_entries.Count >= options.Value.ReviewCacheCapacity)
                {
                    return;
                }
            }

            _entries[Key(token)] = (identity, until);
        }
    }

    private static string Key(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
