using System.Buffers;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// A request body read once into a pooled buffer, bounded: the classify stage reads the model from it and the forward
/// stage replays the same bytes upstream. <see cref="Return"/> gives the buffer back once the request is done.
/// </summary>
internal readonly record struct RequestBody(byte[]? Buffer, int Length, bool TooLarge)
{
    public static RequestBody TooLargeBody => new(null, 0, true);

    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

    public ReadOnlyMemory<byte> Memory => Buffer.AsMemory(0, Length);

    /// <summary>Reads the whole body, or stops at <paramref name="limit"/> bytes and reports it too large.</summary>
    public static async ValueTask<RequestBody> ReadAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return TooLargeBody;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is > 0 and var declared ? (int)declared : 16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    return new RequestBody(buffer, length, false);
                }

                length += read;
                if (length > limit)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return TooLargeBody;
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    public void Return()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}
