using System.Globalization;
using System.Text.Json;
using Tollgate.Core.Events;
using Tollgate.Core.Pricing;
using Tollgate.Core.Tagging;
using Tollgate.Core.Usage;

namespace Tollgate.Cli.Audit;

/// <summary>
/// Generates a scenario's usage events, one day at a time, in time order. Only one day of calls is held (to sort it):
/// a year of a large organisation streams to disk in constant memory. The same seed gives the same bytes.
/// </summary>
public sealed class Simulator(Scenario scenario, PricingCatalog pricing, int seed)
{
    public async Task<long> WriteAsync(Stream output, int? days, CancellationToken cancellationToken)
    {
        // System.Random with a seed is a fixed algorithm (not the per-process one), so runs are reproducible.
        var random = new Random(seed);
        var engineers = scenario.Teams.SelectMany(team => Enumerable.Range(0, team.Engineers).Select(i => (Team: team, Index: i))).ToArray();
        var weekdayRate = scenario.PrsPerEngineerPerWeek / (5 + (2 * scenario.Workweek.WeekendFactor));
        var prices = scenario.Steps.Select(step => pricing.Resolve(step.Provider, step.Model).Price).ToArray();
        var hours = Math.Max(1, scenario.Workweek.EndHour - scenario.Workweek.StartHour);
        var pending = new List<Call>();
        long written = 0;
        long prNumber = 0;
        await using var json = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        for (var day = 0; day < (days ?? scenario.Days); day++)
        {
            var date = scenario.Start.AddDays(day);
            var weekend = date.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday;
            var rate = weekend ? weekdayRate * scenario.Workweek.WeekendFactor : weekdayRate;
            pending.Clear();
            foreach (var (team, index) in engineers)
            {
                var prs = Poisson(random, rate);
                for (var p = 0; p < prs; p++)
                {
                    prNumber++;
                    var repo = team.Repos[random.Next(team.Repos.Count)];
                    var at = date.AddHours(scenario.Workweek.StartHour).AddSeconds(random.NextDouble() * hours * 3600);
                    var size = Math.Exp(scenario.SizeSigma * Gaussian(random));
                    for (var s = 0; s < scenario.Steps.Count; s++)
                    {
                        var step = scenario.Steps[s];
                        var calls = step.Calls;
                        if (random.NextDouble() < scenario.Retry.Probability)
                        {
                            calls += random.Next(scenario.Retry.MinLength, scenario.Retry.MaxLength + 1);
                        }

                        for (var c = 0; c < calls; c++)
                        {
                            var input = (long)(step.InputTokens * size * Math.Pow(1 + step.InputGrowthPerCall, c));
                            var cached = (long)(input * step.CacheReadShare);
                            var produced = (long)(step.OutputTokens * size * (0.5 + random.NextDouble()));
                            var latency = 2 + (produced / 80.0) + random.NextDouble() * 3;
                            var tokens = new TokenUsage(input - cached, produced, cached, 0, 0);
                            pending.Add(new Call(at, team.Name, repo, step, tokens, prices[s].Cost(tokens), Math.Round(latency, 3)));
                            at = at.AddSeconds(latency + random.NextDouble() * 5);
                        }
                    }
                }
            }

            // Stable: calls at the same instant keep generation order, so the output does not depend on the sort.
            foreach (var call in pending.OrderBy(c => c.Time))
            {
                cancellationToken.ThrowIfCancellationRequested();
                written++;
                var tags = new Dictionary<string, string>(4, StringComparer.Ordinal)
                {
                    [TagKeys.Team] = call.Team,
                    [TagKeys.Repo] = call.Repo,
                    [TagKeys.Pipeline] = scenario.Pipeline,
                    [TagKeys.AgentStep] = call.Step.Name,
                };
                var e = new UsageEvent(
                    $"sim{seed.ToString(CultureInfo.InvariantCulture)}-{written.ToString("x8", CultureInfo.InvariantCulture)}",
                    call.Time, scenario.Namespace, tags, call.Step.Provider, call.Step.Model, true, call.Tokens, false, call.Cost,
                    call.Latency, null, "forwarded", 200, []);
                UsageEventJson.Write(json, e);
                await json.FlushAsync(cancellationToken);
                json.Reset();
                output.WriteByte((byte)'\n');
            }
        }

        return written;
    }

    private static int Poisson(Random random, double lambda)
    {
        var limit = Math.Exp(-lambda);
        var k = 0;
        var product = random.NextDouble();
        while (product > limit)
        {
            k++;
            product *= random.NextDouble();
        }

        return k;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private readonly record struct Call(DateTimeOffset Time, string Team, string Repo, ScenarioStep Step, TokenUsage Tokens, decimal Cost, double Latency);
}
