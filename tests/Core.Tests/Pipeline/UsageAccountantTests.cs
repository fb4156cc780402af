using Tollgate.Core.Pipeline;
using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Pipeline;

public sealed class UsageAccountantTests
{
    private static readonly PricingCatalog Catalog = PricingCatalog.LoadEmbedded();
    private static readonly MeteredRequest Request = new("req-1", 0, string.Empty, new Dictionary<string, string>(), Providers.OpenAI, "gpt-4o", Streaming: true);
    private readonly UsageAccountant _accountant = new(Catalog);

    [Fact]
    public void Account_ProviderReportedUsage_IsChargedAsReportedAtTheServedModelsPrice()
    {
        var reported = new TokenUsage(1000, 200, 0, 0, 0);
        var observation = new UsageObservation("gpt-4o-mini", reported, ReportedByProvider: true, DeltaEvents: 5);

        var account = _accountant.Account(Request, observation, billable: true, answered: true, cut: false, 200, NoEstimate, 4096);

        Assert.Equal("gpt-4o-mini", account.Model);
        Assert.Equal(reported, account.Usage);
        Assert.False(account.Estimated);
        Assert.True(account.PriceKnown);
        Assert.Equal(Catalog.Resolve(Providers.OpenAI, "gpt-4o-mini").Price.Cost(reported), account.CostUsd);
        Assert.NotEqual(Catalog.Resolve(Providers.OpenAI, "gpt-4o").Price.Cost(reported), account.CostUsd);
    }

    [Fact]
    public void Account_CompletedResponseWithoutUsage_IsChargedTheWholeReservation()
    {
        var account = _accountant.Account(Request, null, billable: true, answered: true, cut: false, 200, () => 300, 4096);

        Assert.True(account.Estimated);
        Assert.Equal(new TokenUsage(300, 4096, 0, 0, 0), account.Usage);
        Assert.Equal("gpt-4o", account.Model);
    }

    [Fact]
    public void Account_CutStreamWithoutUsage_IsChargedAtLeastOneOutputTokenPerContentEvent()
    {
        var partial = new UsageObservation(null, new TokenUsage(0, 0, 0, 0, 0), ReportedByProvider: false, DeltaEvents: 7);

        var cut = _accountant.Account(Request, partial, billable: true, answered: true, cut: true, 200, () => 300, 4096);
        var none = _accountant.Account(Request, null, billable: true, answered: true, cut: true, 200, () => 300, 4096);

        Assert.Equal(new TokenUsage(300, 7, 0, 0, 0), cut.Usage);
        Assert.Equal(1, none.Usage.Output);
        Assert.True(cut.Estimated);
    }

    [Fact]
    public void Account_ErrorStatusOrNoAnswer_ChargesNothingAndEstimatesNothing()
    {
        var failed = _accountant.Account(Request, null, billable: true, answered: true, cut: false, 429, NoEstimate, 4096);
        var unanswered = _accountant.Account(Request, null, billable: true, answered: false, cut: true, 502, NoEstimate, 4096);

        Assert.Equal(TokenUsage.Zero, failed.Usage);
        Assert.False(failed.Estimated);
        Assert.Equal(0m, failed.CostUsd);
        Assert.Equal(TokenUsage.Zero, unanswered.Usage);
        Assert.Equal(0m, unanswered.CostUsd);
    }

    [Fact]
    public void Account_CallTheProviderNeverBills_CostsNothingButKeepsItsTokens()
    {
        var reported = new TokenUsage(120, 0, 0, 0, 0);
        var observation = new UsageObservation(null, reported, ReportedByProvider: true, DeltaEvents: 0);

        var account = _accountant.Account(Request, observation, billable: false, answered: true, cut: false, 200, NoEstimate, 0);

        Assert.Equal(reported, account.Usage);
        Assert.Equal(0m, account.CostUsd);
    }

    private static long NoEstimate() => throw new InvalidOperationException("the input estimate is not needed here");
}
