using System.Net;
using k8s.Autorest;

namespace Tollgate.Operator.KeyBroker;

/// <summary>The API server could not answer a question the broker must ask; the meter is told to retry (503).</summary>
public sealed class BrokerUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>Calls to the API server on behalf of a broker request: bounded in time, failures made <see cref="BrokerUnavailableException"/>.</summary>
internal static class BrokerApi
{
    /// <summary>Runs <paramref name="call"/> within <paramref name="timeout"/>.</summary>
    public static async Task<T> CallAsync<T>(string what, TimeSpan timeout, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            return await call(deadline.Token);
        }
        catch (HttpOperationException ex)
        {
            throw new BrokerUnavailableException($"could not {what}: the API server answered {(int)ex.Response.StatusCode}", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new BrokerUnavailableException($"could not {what}: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BrokerUnavailableException($"could not {what}: the API server did not answer within {timeout.TotalSeconds:0} s", ex);
        }
    }

    /// <summary>As <see cref="CallAsync{T}"/>, with a 404 answered as null.</summary>
    public static Task<T?> FindAsync<T>(string what, TimeSpan timeout, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
        where T : class =>
        CallAsync<T?>(
            what,
            timeout,
            async ct =>
            {
                try
                {
                    return await call(ct);
                }
                catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }
            },
            cancellationToken);
}
