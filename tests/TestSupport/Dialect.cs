namespace Tollgate.TestSupport;

/// <summary>
/// One provider wire format. A stream is preamble events, one event per content delta, then end events; the
/// server drives the timing, flushing, delays and disconnects so every dialect behaves the same under the knobs.
/// </summary>
internal abstract class Dialect(ResponseSink sink, FakeExchange exchange)
{
    protected static ReadOnlySpan<byte> EventEnd => "\n\n"u8;

    protected ResponseSink Sink { get; } = sink;

    protected FakeExchange Exchange { get; } = exchange;

    protected FakeUsage Usage => Exchange.Usage;

    public abstract int PreambleEvents { get; }

    public abstract int EndEvents { get; }

    public abstract void WritePreambleEvent(int index);

    public abstract void WriteDeltaEvent(int index);

    public abstract void WriteEndEvent(int index);

    public abstract void WriteBody();
}
