using System.Collections.Concurrent;
using Tollgate.Core.Routing;

namespace Tollgate.Meter.Routing;

/// <summary>
/// Reads API keys from Secrets mounted as files (<c>&lt;dir&gt;/&lt;secret&gt;/&lt;key&gt;</c>, the layout of a Kubernetes Secret
/// volume; a plain folder in standalone mode). A key is re-read at most every <see cref="RefreshAfter"/>, so a rotated
/// Secret takes effect without a restart.
/// </summary>
internal sealed class SecretFiles(string directory, TimeProvider time)
{
    public static readonly TimeSpan RefreshAfter = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, (string Value, DateTimeOffset ReadAt)> _cache = new(StringComparer.Ordinal);

    public string Directory => directory;

    /// <exception cref="IOException">The Secret file is missing or unreadable; the message names the path.</exception>
    public string Read(SecretKeyReference reference)
    {
        var path = reference.PathUnder(directory);
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(path, out var cached) && now - cached.ReadAt < RefreshAfter)
        {
            return cached.Value;
        }

        string value;
        try
        {
            value = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"API key of Secret \"{reference.Name}\" key \"{reference.Key}\" cannot be read from {path}: {ex.Message}", ex);
        }

        if (value.Length == 0)
        {
            throw new IOException($"API key of Secret \"{reference.Name}\" key \"{reference.Key}\" at {path} is empty");
        }

        _cache[path] = (value, now);
        return value;
    }
}
