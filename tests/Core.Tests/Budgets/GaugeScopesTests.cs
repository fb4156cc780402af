using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Budgets;

public sealed class GaugeScopesTests
{
    private static readonly PeriodWindow Day = PeriodWindow.Containing(BudgetPeriod.Day, new DateTimeOffset(2026, 3, 10, 9, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Past_the_cap_the_most_spent_scopes_keep_their_gauges()
    {
        CounterSnapshot[] counters = [Counter("a", 10), Counter("b", 30), Counter("c", 20), Counter("d", 30)];

        Assert.Equal(["b", "d"], GaugeScopes.Select(counters, 2).Select(c => c.Scope));
        Assert.Equal(["b", "d", "c"], GaugeScopes.Select(counters, 3).Select(c => c.Scope));
    }

    [Fact]
    public void Within_the_cap_every_scope_keeps_its_gauges_in_order()
    {
        CounterSnapshot[] counters = [Counter("a", 10), Counter("b", 30)];

        Assert.Same(counters, GaugeScopes.Select(counters, 2));
    }

    private static CounterSnapshot Counter(string scope, decimal spent) => new("per-repo", scope, Day, spent, 0m);
}
