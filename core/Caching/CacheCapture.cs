using System.Buffers;

namespace Tollgate.Core.Caching;

/// <summary>
/// Collects the bytes of one response as they stream to the client, to cache them once it completes, up to a limit:
/// a response that outgrows it is dropped at once and the rest ignored, so a huge response costs nothing beyond the
/// limit. Per request; not thread-safe. The working buffer is pooled; dispose the capture to return it.
/// </summary>
public sealed class CacheCapture : IDisposable
{
    private const int MinimumBufferBytes = 4096;

    private readonly int _limit;
    private byte[]? _buffer;
    private int _length;

    /// <param name="maxBytes">The most bytes kept (<see cref="ResponseCacheOptions.MaxEntryBytes"/>); exactly this many still fit.</param>
    public CacheCapture(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        MaxBytes = maxBytes;
        _limit = (int)Math.Min(maxBytes, Array.MaxLength);
    }

    public long MaxBytes { get; }

    /// <summary>True once the response outgrew <see cref="MaxBytes"/>; nothing is kept from then on.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Bytes captured so far (0 after an overflow).</summary>
    public int Length => _length;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (Overflowed || bytes.IsEmpty)
        {
            return;
        }

        if (bytes.Length > _limit - _length)
        {
            Overflowed = true;
            Release();
            return;
        }

        Reserve(_length + bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    /// <summary>
    /// A copy of the bytes captured (empty after an overflow), sized exactly and owned by the caller: it outlives the
    /// capture and its pooled buffer, so it can be stored in the cache.
    /// </summary>
    public ReadOnlyMemory<byte> ToMemory() =>
        Overflowed || _length == 0 ? ReadOnlyMemory<byte>.Empty : _buffer.AsSpan(0, _length).ToArray();

    public void Dispose() => Release();

    private void Reserve(int needed)
    {
        if (_buffer is not null && _buffer.Length >= needed)
        {
            return;
        }

        // Doubling, but never past the limit: what is held stays within it.
        var size = (int)Math.Min(_limit, Math.Max(needed, Math.Max(MinimumBufferBytes, (long)(_buffer?.Length ?? 0) * 2)));
        var bigger = ArrayPool<byte>.Shared.Rent(size);
        _buffer?.AsSpan(0, _length).CopyTo(bigger);
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = bigger;
    }

    private void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        _length = 0;
    }
}
