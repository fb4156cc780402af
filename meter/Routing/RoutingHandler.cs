using Microsoft.Net.Http.Headers;
using Polly.CircuitBreaker;
using Polly.Timeout;
using Tollgate.Core.Usage;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Metering;

namespace Tollgate.Meter.Routing;

/// <summary>
/// The invoker the forwarder sends a routed request through. It tries the plan's candidates in order, each through its
/// resilience pipeline, and returns the first response that is not a transient failure; only then does the forwarder
/// start copying it to the client, so a retry or a fallback never follows a byte the client has seen. When every
/// candidate fails, the client gets the last failure as the provider sent it (or a 502 when none answered).
/// </summary>
internal sealed class RoutingHandler(TargetPipelines pipelines, KeyStore keys, MeterMetrics metrics) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(RoutePlan.OptionsKey, out var plan))
        {
            throw new InvalidOperationException("A routed request reached the routing handler without its plan.");
        }

        var attempts = 0;
        RouteCandidate? served = null;
        var fallback = plan.Fallback;
        try
        {
            HttpResponseMessage? lastResponse = null;
            Exception? lastError = null;
            for (var i = 0; i < plan.Candidates.Count; i++)
            {
                var candidate = plan.Candidates[i];
                var isLast = i == plan.Candidates.Count - 1;
                try
                {
                    var response = await pipelines.For(plan.Route, candidate.Target).ExecuteAsync(
                        async token =>
                        {
                            attempts++;
                            return await candidate.Upstream.Invoker.SendAsync(Attempt(request, plan, candidate), token);
                        },
                        cancellationToken);
                    if (TargetPipelines.IsTransient(response.StatusCode) && !isLast)
                    {
                        Count(plan, candidate, "failure");
                        lastResponse?.Dispose();
                        lastResponse = response;
                        continue;
                    }

                    Count(plan, candidate, TargetPipelines.IsTransient(response.StatusCode) ? "failure" : "success");
                    lastResponse?.Dispose();
                    (served, fallback) = Serve(plan, candidate, i);
                    return response;
                }
                catch (BrokenCircuitException ex)
                {
                    Count(plan, candidate, "circuit_open");
                    lastError = ex;
                }
                catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
                {
                    Count(plan, candidate, "failure");
                    lastError = ex;
                }
            }

            if (lastResponse is not null)
            {
                (served, fallback) = Serve(plan, plan.Candidates[^1], plan.Candidates.Count - 1);
                return lastResponse;
            }

            throw new HttpRequestException($"every target of routing rule {plan.Route.Name} failed: {lastError?.Message}", lastError);
        }
        finally
        {
            // Published however the send ended (served, failed or cancelled): the event and the header report the attempts made.
            request.Options.Set(RouteResult.OptionsKey, new RouteResult(plan.Route.Name, served, attempts, fallback));
        }
    }

    private static (RouteCandidate Served, string? Fallback) Serve(RoutePlan plan, RouteCandidate candidate, int position) =>
        (candidate, position > 0 ? plan.Fallback ?? Core.Metrics.FallbackKinds.Upstream : plan.Fallback);

    private void Count(RoutePlan plan, RouteCandidate candidate, string result) =>
        metrics.RouteAttempts.WithLabels(plan.Route.Name, candidate.Upstream.Provider, candidate.Model, result).Inc();

    /// <summary>A fresh request per attempt: the body is replayable bytes, the key and model are the candidate's.</summary>
    private HttpRequestMessage Attempt(HttpRequestMessage original, RoutePlan plan, RouteCandidate candidate)
    {
        var attempt = new HttpRequestMessage(original.Method, new Uri(candidate.Upstream.DestinationPrefix + plan.PathAndQuery))
        {
            Version = original.Version,
            VersionPolicy = original.VersionPolicy,
            Content = new ReadOnlyMemoryContent(plan.BodyFor(candidate)),
        };
        foreach (var header in original.Headers)
        {
            // Each target is addressed by its own authority (and SNI), which the handler takes from the URI.
            if (!header.Key.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase))
            {
                attempt.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        if (original.Content is not null)
        {
            foreach (var header in original.Content.Headers)
            {
                if (!header.Key.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
                {
                    attempt.Content.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }
            }
        }

        // The candidate's key replaces whatever the client sent: a client key never reaches a routed target.
        keys.Apply(attempt.Headers, candidate.Upstream);

        return attempt;
    }
}
