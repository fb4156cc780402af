using Microsoft.Extensions.Time.Testing;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.Runtime;

namespace Tollgate.Operator.Tests.Runtime;

public sealed class WorkQueueTests
{
    [Fact]
    public async Task A_key_added_twice_while_waiting_is_handed_out_once()
    {
        using var queue = new WorkQueue(new FakeTimeProvider());
        queue.Add("ns/a");
        queue.Add("ns/a");
        queue.Add("ns/b");

        Assert.Equal("ns/a", await queue.TakeAsync(CancellationToken.None));
        Assert.Equal("ns/b", await queue.TakeAsync(CancellationToken.None));
        using var nothing = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await queue.TakeAsync(nothing.Token));
    }

    [Fact]
    public async Task A_key_added_while_it_is_processed_comes_back_once_after_Done()
    {
        using var queue = new WorkQueue(new FakeTimeProvider());
        queue.Add("a");
        var key = await queue.TakeAsync(CancellationToken.None);
        queue.Add("a");
        queue.Add("a");
        using var early = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await queue.TakeAsync(early.Token));

        queue.Done(key);

        Assert.Equal("a", await queue.TakeAsync(CancellationToken.None));
    }

    [Fact]
    public void Retries_of_a_failing_key_back_off_exponentially_and_reset_after_success()
    {
        using var queue = new WorkQueue(new FakeTimeProvider(), baseDelay: TimeSpan.FromMilliseconds(100), maxDelay: TimeSpan.FromSeconds(1));

        var delays = Enumerable.Range(0, 6).Select(_ => queue.AddRateLimited("a").TotalMilliseconds).ToList();
        queue.Forget("a");
        var afterReset = queue.AddRateLimited("a").TotalMilliseconds;

        Assert.InRange(delays[0], 100, 110);
        Assert.InRange(delays[1], 200, 220);
        Assert.InRange(delays[2], 400, 440);
        Assert.InRange(delays[3], 800, 880);
        Assert.InRange(delays[4], 1000, 1100);
        Assert.InRange(delays[5], 1000, 1100);
        Assert.InRange(afterReset, 100, 110);
    }

    [Fact]
    public async Task A_delayed_key_arrives_only_when_its_time_has_come()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue(time);
        queue.AddAfter("a", TimeSpan.FromSeconds(30));

        time.Advance(TimeSpan.FromSeconds(29));
        using var early = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await queue.TakeAsync(early.Token));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("a", await queue.TakeAsync(CancellationToken.None));
    }
}
