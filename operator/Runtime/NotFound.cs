using System.Net;
using k8s.Autorest;

namespace Tollgate.Operator.Runtime;

/// <summary>
/// The API server's 404 read as an answer rather than a failure: a read that finds nothing, or a delete of something
/// already gone (the goal state). Every other error is left to the caller's retry.
/// </summary>
internal static class NotFound
{
    /// <returns>What <paramref name="read"/> returned, or null when the object does not exist.</returns>
    public static async Task<T?> AsNullAsync<T>(Func<Task<T>> read)
        where T : class
    {
        try
        {
            return await read();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Runs <paramref name="delete"/>; an object that is already gone is what it wanted.</summary>
    public static async Task IgnoredAsync(Func<Task> delete)
    {
        try
        {
            await delete();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }
}
