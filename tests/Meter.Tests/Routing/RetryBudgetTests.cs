using Microsoft.Extensions.Time.Testing;
using Tollgate.Meter.Routing;

namespace Tollgate.Meter.Tests.Routing;

public sealed class RetryBudgetTests
{
    [Fact]
    public void Retries_stop_once_the_budget_is_spent_and_traffic_earns_them_back()
    {
        var clock = new FakeTimeProvider();
        var budget = new RetryBudget(clock, ratio: 0.5, minimumPerSecond: 1);

        // The budget starts full (ten seconds of the floor, at least ten retries).
        var granted = 0;
        while (budget.TryWithdraw())
        {
            granted++;
        }

        Assert.Equal(10, granted);

        // Every request earns half a retry.
        budget.Deposit();
        Assert.False(budget.TryWithdraw());
        budget.Deposit();
        Assert.True(budget.TryWithdraw());
        Assert.False(budget.TryWithdraw());
    }

    [Fact]
    public void The_floor_refills_a_quiet_meter_over_time()
    {
        var clock = new FakeTimeProvider();
        var budget = new RetryBudget(clock, ratio: 0.2, minimumPerSecond: 2);
        while (budget.TryWithdraw())
        {
        }

        clock.Advance(TimeSpan.FromSeconds(1.5));

        Assert.True(budget.TryWithdraw());
        Assert.True(budget.TryWithdraw());
        Assert.True(budget.TryWithdraw());
        Assert.False(budget.TryWithdraw());
    }
}
