using System.Collections.Concurrent;
using Tollgate.Core.Tagging;

namespace Tollgate.Core.Tests.Tagging;

public sealed class LabelValueLimiterTests
{
    [Fact]
    public void Values_past_the_cap_fold_and_admitted_values_keep_their_own()
    {
        var limiter = new LabelValueLimiter("repo", maxValues: 3);

        Assert.Equal(["a", "b", "c", "__overflow__", "a", "__overflow__", "c"], new[] { "a", "b", "c", "d", "a", "e", "c" }.Select(limiter.Admit));
        Assert.Equal(3, limiter.Count);
        Assert.True(limiter.IsFull);
        Assert.False(limiter.TryAdmit("d"));
    }

    [Fact]
    public void Empty_and_overflow_values_pass_without_taking_a_slot()
    {
        var limiter = new LabelValueLimiter("team", maxValues: 1);

        Assert.True(limiter.TryAdmit(string.Empty));
        Assert.True(limiter.TryAdmit(LabelValueLimiter.OverflowValue));
        Assert.Equal(0, limiter.Count);
        Assert.True(limiter.TryAdmit("payments"));
        Assert.False(limiter.TryAdmit("search"));
        Assert.True(limiter.TryAdmit(string.Empty));
    }

    [Fact]
    public void A_value_the_check_refuses_folds_without_taking_a_slot()
    {
        var limiter = new LabelValueLimiter("model", maxValues: 1, ModelName.IsValid);

        Assert.Equal(LabelValueLimiter.OverflowValue, limiter.Admit("gpt\u001b[2J"));
        Assert.Equal(0, limiter.Count);
        Assert.Equal("gpt-4o", limiter.Admit("gpt-4o"));
    }

    [Fact]
    public void A_cap_below_one_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new LabelValueLimiter("repo", maxValues: 0));

    [Fact]
    public void Parallel_admission_never_exceeds_the_cap_and_every_caller_gets_the_same_answer_for_a_value()
    {
        const int Cap = 1000;
        const int Values = 5000;
        const int Threads = 8;
        for (var round = 0; round < 10; round++)
        {
            var limiter = new LabelValueLimiter("repo", Cap);
            var answers = new ConcurrentDictionary<string, ConcurrentBag<bool>>(StringComparer.Ordinal);
            using var start = new Barrier(Threads);
            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();

                // Every thread walks all values from its own offset, so threads race to admit the same new values.
                for (var i = 0; i < Values; i++)
                {
                    var value = $"repo-{((t * 617) + i) % Values}";
                    answers.GetOrAdd(value, _ => []).Add(limiter.TryAdmit(value));
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.Equal(Cap, limiter.Count);
            Assert.Equal(Cap, answers.Count(a => a.Value.Contains(true)));
            Assert.All(answers, a => Assert.Single(a.Value.Distinct()));
            Assert.All(answers, a => Assert.Equal(Threads, a.Value.Count));
        }
    }
}
