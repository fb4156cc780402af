using Tollgate.Core.Caching;

namespace Tollgate.Core.Tests.Caching;

public sealed class CacheCaptureTests
{
    [Fact]
    public void Appends_are_concatenated_in_order()
    {
        using var capture = new CacheCapture(1024);
        capture.Append("data: {\"a\":1}\n\n"u8);
        capture.Append([]);
        capture.Append("data: [DONE]\n\n"u8);

        Assert.False(capture.Overflowed);
        Assert.Equal(29, capture.Length);
        Assert.Equal("data: {\"a\":1}\n\ndata: [DONE]\n\n"u8.ToArray(), capture.ToMemory().ToArray());
    }

    [Fact]
    public void Appends_larger_than_the_initial_buffer_grow_it_and_keep_every_byte()
    {
        var expected = Enumerable.Range(0, 100_000).Select(i => (byte)(i % 251)).ToArray();
        using var capture = new CacheCapture(expected.Length);
        for (var offset = 0; offset < expected.Length; offset += 3_000)
        {
            capture.Append(expected.AsSpan(offset, Math.Min(3_000, expected.Length - offset)));
        }

        Assert.False(capture.Overflowed);
        Assert.Equal(expected, capture.ToMemory().ToArray());
    }

    [Fact]
    public void Filling_exactly_to_the_limit_is_not_an_overflow()
    {
        using var capture = new CacheCapture(10);
        capture.Append("12345"u8);
        capture.Append("67890"u8);
        capture.Append([]);

        Assert.False(capture.Overflowed);
        Assert.Equal("1234567890"u8.ToArray(), capture.ToMemory().ToArray());
    }

    [Fact]
    public void Going_past_the_limit_drops_everything_and_ignores_later_appends()
    {
        using var capture = new CacheCapture(10);
        capture.Append("12345"u8);
        capture.Append("678901"u8);

        Assert.True(capture.Overflowed);
        Assert.Equal(0, capture.Length);
        Assert.True(capture.ToMemory().IsEmpty);

        capture.Append("1"u8);
        Assert.True(capture.Overflowed);
        Assert.Equal(0, capture.Length);
        Assert.True(capture.ToMemory().IsEmpty);
    }

    [Fact]
    public void A_zero_limit_keeps_only_an_empty_response()
    {
        using var capture = new CacheCapture(0);
        capture.Append([]);
        Assert.False(capture.Overflowed);

        capture.Append("x"u8);
        Assert.True(capture.Overflowed);
    }

    [Fact]
    public void The_captured_bytes_are_a_copy_that_outlives_the_capture()
    {
        var capture = new CacheCapture(1024);
        capture.Append("hello"u8);
        var memory = capture.ToMemory();
        capture.Dispose();

        // The pooled buffer goes back to the pool on Dispose; whoever rents it next must not change the cached body.
        using (var other = new CacheCapture(1024))
        {
            other.Append("HELLO"u8);
        }

        Assert.Equal("hello"u8.ToArray(), memory.ToArray());
    }
}
