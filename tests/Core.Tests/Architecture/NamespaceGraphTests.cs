using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Architecture;

public sealed class NamespaceGraphTests
{
    private const string FixturePrefix = "Tollgate.Core.Tests.Architecture.Fixture";

    [Fact]
    public void Core_top_level_namespaces_have_no_cycle()
    {
        var edges = NamespaceGraph.Read(typeof(IBudgetLedger).Assembly.Location, "Tollgate.Core");

        var cycles = NamespaceGraph.Cycles(edges);

        var evidence = cycles
            .SelectMany(cycle => edges.Where(edge => cycle.Contains(edge.From) && cycle.Contains(edge.To)))
            .Select(edge => $"{edge.From} -> {edge.To} ({edge.FromType} uses {edge.ToType})");
        Assert.True(cycles.Count == 0, "namespace cycles in Tollgate.Core:\n" + string.Join('\n', evidence));
    }

    [Fact]
    public void Core_graph_holds_the_dependencies_the_code_has()
    {
        var edges = NamespaceGraph.Read(typeof(IBudgetLedger).Assembly.Location, "Tollgate.Core");

        // The recorder settles charges in the ledger and budgets are reserved through it: if these are missing the
        // reader is blind and the cycle test above proves nothing.
        Assert.Contains(edges, edge => edge is { From: "Events", To: "Ledger" });
        Assert.Contains(edges, edge => edge is { From: "Budgets", To: "Ledger" });
    }

    [Fact]
    public void Reference_only_in_a_method_body_closes_a_cycle()
    {
        var edges = NamespaceGraph.Read(typeof(NamespaceGraphTests).Assembly.Location, FixturePrefix);

        var cycles = NamespaceGraph.Cycles(edges);

        var cycle = Assert.Single(cycles);
        Assert.Equal(["Alpha", "Beta"], cycle);
        Assert.Contains(edges, edge => edge is { From: "Alpha", To: "Beta", FromType: $"{FixturePrefix}.Alpha.Message" });
        Assert.Contains(edges, edge => edge is { From: "Gamma", To: "Alpha" });
    }
}
