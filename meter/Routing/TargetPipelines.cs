using System.Net;
using System.Runtime.CompilerServices;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using Tollgate.Core.Routing;

namespace Tollgate.Meter.Routing;

/// <summary>
/// The resilience of each route target (Polly, outermost first): retries with backoff and jitter that honour
/// <c>Retry-After</c> and draw on the <see cref="RetryBudget"/>; a circuit breaker that takes a failing target out of
/// rotation; a timeout on each attempt until the response starts. One pipeline per compiled target, so the circuit of a
/// target is shared by every request; a policy reload starts new circuits.
/// </summary>
internal sealed class TargetPipelines(RetryBudget retryBudget, TimeProvider time)
{
    private static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(30);
    private readonly ConditionalWeakTable<CompiledTarget, ResiliencePipeline<HttpResponseMessage>> _pipelines = [];

    /// <summary>Statuses that mean "try again or elsewhere": rate limited, overloaded, or a server or gateway failure.</summary>
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout or HttpStatusCode.InternalServerError
            or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout || (int)status == 529;

    public ResiliencePipeline<HttpResponseMessage> For(CompiledRoute route, CompiledTarget target) =>
        _pipelines.GetValue(target, t => Build(route.Resilience));

    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) => outcome.Exception switch
    {
        null => IsTransient(outcome.Result!.StatusCode),
        HttpRequestException or TimeoutRejectedException => true,
        _ => false,
    };

    private ResiliencePipeline<HttpResponseMessage> Build(RouteResilience resilience)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
        if (resilience.RetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = resilience.RetryAttempts,
                BackoffType = resilience.Backoff == BackoffKind.Constant ? DelayBackoffType.Constant : DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = MaxRetryAfter,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome) && retryBudget.TryWithdraw()),
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result)),
                OnRetry = args =>
                {
                    // The failed response is never shown to the client: release its connection now.
                    args.Outcome.Result?.Dispose();
                    return ValueTask.CompletedTask;
                },
            });
        }

        if (resilience.FailureRatio is { } ratio)
        {
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = ratio,
                MinimumThroughput = 4,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = resilience.BreakDuration,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome)),
            });
        }

        builder.AddTimeout(resilience.AttemptTimeout);
        return builder.Build();
    }

    /// <summary>The provider's own Retry-After (seconds or a date), capped; null lets the backoff decide.</summary>
    private TimeSpan? RetryAfter(HttpResponseMessage? response)
    {
        var header = response?.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } date ? date - time.GetUtcNow() : null);
        return delay is { } d && d >= TimeSpan.Zero ? (d > MaxRetryAfter ? MaxRetryAfter : d) : null;
    }
}
