using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Tollgate.Core.Events;
using Tollgate.Core.Metrics;
using Tollgate.Core.Usage;
using Tollgate.Exporter.Aggregation;
using Tollgate.Meter.Metering;

namespace Tollgate.Bench.MetricWriters;

/// <summary>
/// The two ways Tollgate writes the usage families of <see cref="MetricContract"/>, measured on the same events in one
/// run: the meter's <see cref="MeterMetrics"/> on prometheus-net, and the exporter's <see cref="UsageAggregate"/> with
/// <see cref="UsageSeriesWriter"/>. Per event: what recording one forwarded request costs (its tokens, cost, request
/// count and latency). Per scrape: what rendering <c>/metrics</c> costs once every label set has been seen.
/// </summary>
public static class MetricWritersBench
{
    public static int Main(string[] args)
    {
        var sizes = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [100, 5000];
        var rounds = int.Parse(Environment.GetEnvironmentVariable("ROUNDS") ?? "7", CultureInfo.InvariantCulture);
        Console.WriteLine($"# Metric writers: prometheus-net (meter) vs hand-written exposition (exporter)");
        Console.WriteLine();
        Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores, {(GCSettings.IsServerGC ? "server" : "workstation")} GC, median of {rounds} rounds");
        Console.WriteLine();
        Console.WriteLine("| label sets | samples | measure | prometheus-net | exporter writer | exporter / prometheus-net |");
        Console.WriteLine("|---:|---:|---|---:|---:|---:|");
        foreach (var size in sizes)
        {
            var events = Events(size);
            using var meter = new MeterSide();
            var exporter = new ExporterSide();

            // Every label set seen once, so both hold every series before anything is timed.
            foreach (var e in events)
            {
                meter.Record(e);
                exporter.Record(e);
            }

            var meterBytes = meter.Render();
            var exporterBytes = exporter.Render();
            var series = CountSamples(exporter.Text());

            var iterations = Math.Max(20_000, events.Length * 4);
            var (recordMeter, recordExporter) = MeasurePair(rounds, iterations, i => meter.Record(events[i % events.Length]), i => exporter.Record(events[i % events.Length]));
            Row(size, series, "record one event (ns)", recordMeter.Nanoseconds, recordExporter.Nanoseconds, "0");
            Row(size, series, "record one event (bytes allocated)", recordMeter.Bytes, recordExporter.Bytes, "0");

            var renders = size >= 1000 ? 20 : 400;
            var (renderMeter, renderExporter) = MeasurePair(rounds, renders, _ => meter.Render(), _ => exporter.Render());
            Row(size, series, "render /metrics (µs)", renderMeter.Nanoseconds / 1000, renderExporter.Nanoseconds / 1000, "0");
            Row(size, series, "render /metrics (KiB allocated)", renderMeter.Bytes / 1024, renderExporter.Bytes / 1024, "0");
            Row(size, series, "/metrics size (KiB)", meterBytes / 1024.0, exporterBytes / 1024.0, "0.0");
        }

        return 0;
    }

    /// <summary>
    /// Forwarded requests over <paramref name="labelSets"/> distinct (team, repo, model) combinations, streamed and
    /// not, with every token type, so each writer touches every usage family for each.
    /// </summary>
    private static UsageEvent[] Events(int labelSets)
    {
        string[] models = ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o", "gpt-5"];
        var teams = (int)Math.Ceiling(Math.Sqrt(labelSets / (double)models.Length));
        var events = new UsageEvent[labelSets];
        for (var i = 0; i < labelSets; i++)
        {
            var model = models[i % models.Length];
            var rest = i / models.Length;
            var tags = new Dictionary<string, string>
            {
                ["team"] = "team-" + (rest % teams).ToString(CultureInfo.InvariantCulture),
                ["repo"] = "repo-" + (rest / teams).ToString(CultureInfo.InvariantCulture),
                ["pipeline"] = "pr-review",
                ["agent_step"] = "review",
            };
            var provider = model.StartsWith("claude", StringComparison.Ordinal) ? Providers.Anthropic : Providers.OpenAI;
            var streaming = i % 2 == 0;
            events[i] = new UsageEvent($"req-{i}", DateTimeOffset.UnixEpoch, "ci", tags, provider, model, streaming, new TokenUsage(1200, 300, 50, 20, 10), false,
                0.0123m, 1.7, streaming ? 0.4 : null, RequestOutcomes.Forwarded, 200, []);
        }

        return events;
    }

    /// <summary>
    /// Times <paramref name="first"/> and <paramref name="second"/> in alternating rounds, so that whatever else the
    /// machine does falls on both alike; per call, the median round's time and allocations (all threads).
    /// </summary>
    private static ((double Nanoseconds, double Bytes) First, (double Nanoseconds, double Bytes) Second) MeasurePair(
        int rounds, int iterations, Action<int> first, Action<int> second)
    {
        var times = new double[2, rounds];
        var bytes = new double[2, rounds];
        Action<int>[] actions = [first, second];
        for (var warm = 0; warm < iterations; warm++)
        {
            first(warm);
            second(warm);
        }

        for (var r = 0; r < rounds; r++)
        {
            for (var a = 0; a < actions.Length; a++)
            {
                var action = actions[a];
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < iterations; i++)
                {
                    action(i);
                }

                watch.Stop();
                bytes[a, r] = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)iterations;
                times[a, r] = watch.Elapsed.TotalNanoseconds / iterations;
            }
        }

        return ((Median(times, 0), Median(bytes, 0)), (Median(times, 1), Median(bytes, 1)));
    }

    private static double Median(double[,] values, int row)
    {
        var sorted = Enumerable.Range(0, values.GetLength(1)).Select(i => values[row, i]).Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static int CountSamples(string exposition) => exposition.Split('\n').Count(line => line.Length > 0 && line[0] != '#');

    private static void Row(int size, int series, string measure, double meter, double exporter, string format) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {size} | {series} | {measure} | {meter.ToString(format, CultureInfo.InvariantCulture)} | {exporter.ToString(format, CultureInfo.InvariantCulture)} | {(meter == 0 ? "-" : (exporter / meter).ToString("0.0", CultureInfo.InvariantCulture) + "×")} |"));

    /// <summary>The meter's path: fold the labels, then prometheus-net's labelled children.</summary>
    private sealed class MeterSide : IDisposable
    {
        private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
        private readonly MeterMetrics _metrics;
        private readonly MemoryStream _output = new();

        public MeterSide() => _metrics = new MeterMetrics(_registry, maxLabelValues: 1_000_000, NullLogger.Instance);

        public void Record(UsageEvent e)
        {
            var labels = new UsageLabels(e.Namespace, e.Tags["team"], e.Tags["repo"], e.Tags["pipeline"], e.Tags["agent_step"], e.Provider, e.Model);
            _metrics.RecordUsage(labels, e.Tokens, e.CostUsd);
            _metrics.RecordRequest(labels, e.Outcome);
            _metrics.RecordLatency(labels, e.Streaming, TimeSpan.FromSeconds(e.LatencySeconds), e.TimeToFirstTokenSeconds is { } t ? TimeSpan.FromSeconds(t) : null);
        }

        public long Render()
        {
            // Waited for here: into a MemoryStream the export has nothing to wait on.
            _output.SetLength(0);
            _registry.CollectAndExportAsTextAsync(_output).GetAwaiter().GetResult();
            return _output.Length;
        }

        public void Dispose() => _output.Dispose();
    }

    /// <summary>The exporter's path: apply the event to the aggregate, render it by hand.</summary>
    private sealed class ExporterSide
    {
        private readonly UsageAggregate _aggregate = new();
        private readonly LabelLimits _limits = new(1_000_000);
        private readonly SeriesIntroductions _introductions = new();

        public void Record(UsageEvent e) => _aggregate.Apply(e, _limits);

        public string Text()
        {
            var output = new StringBuilder(64 * 1024);
            UsageSeriesWriter.Write(_aggregate, output, _introductions);
            return output.ToString();
        }

        public long Render() => Encoding.UTF8.GetByteCount(Text());
    }
}
