using System.Buffers;
using Tollgate.Core.Usage;

namespace Tollgate.Meter.Metering;

/// <summary>
/// Sits in front of the client's response body while the forwarder copies the upstream response into it. Each chunk
/// goes to the client first and is then handed to the usage parser, so metering never delays or buffers the stream.
/// The only exception is rewrite mode, where complete SSE lines are passed on once their last byte has arrived.
/// </summary>
internal sealed class MeteringResponseStream(Stream inner, HttpResponse response, TimeProvider time) : Stream
{
    private ResponseUsageParser? _parser;
    private ArrayBufferWriter<byte>? _rewritten;

    public ApiDialect Dialect { get; set; }

    /// <summary>True when the meter added <c>stream_options.include_usage</c> and must hide the usage chunk.</summary>
    public bool StripInjectedUsage { get; set; }

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the first body byte, or 0.</summary>
    public long FirstByteTimestamp { get; private set; }

    public bool IsEventStream { get; private set; }

    /// <summary>Receives every byte the client gets, for the response cache; null when the response is not cached.</summary>
    public Core.Caching.CacheCapture? Capture { get; set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>Finishes parsing and passes on anything rewrite mode still held. Returns what the response reported.</summary>
    public async ValueTask<UsageObservation?> CompleteAsync(CancellationToken cancellationToken)
    {
        if (_parser is null)
        {
            return null;
        }

        _rewritten?.ResetWrittenCount();
        _parser.Complete(_rewritten);
        if (_rewritten is { WrittenCount: > 0 })
        {
            await inner.WriteAsync(_rewritten.WrittenMemory, cancellationToken);
            Capture?.Append(_rewritten.WrittenSpan);
        }

        return _parser.GetObservation();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var parser = _parser ?? Start();
        if (!parser.RewritesBody)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            Capture?.Append(buffer.Span);
            parser.Observe(buffer.Span);
            return;
        }

        _rewritten!.ResetWrittenCount();
        parser.Rewrite(buffer.Span, _rewritten);
        if (_rewritten.WrittenCount > 0)
        {
            await inner.WriteAsync(_rewritten.WrittenMemory, cancellationToken);
            Capture?.Append(_rewritten.WrittenSpan);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _parser?.Dispose();
            _parser = null;
        }

        base.Dispose(disposing);
    }

    private ResponseUsageParser Start()
    {
        FirstByteTimestamp = time.GetTimestamp();

        // The forwarder copies headers before the body, so the content type is known at the first write.
        IsEventStream = response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
        _parser = new ResponseUsageParser(Dialect, IsEventStream, StripInjectedUsage);
        if (_parser.RewritesBody)
        {
            _rewritten = new ArrayBufferWriter<byte>(8192);
        }

        return _parser;
    }
}
