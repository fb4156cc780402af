using System.Globalization;
using Spectre.Console;

namespace Tollgate.Cli.Audit;

/// <summary>The backtest report as terminal tables: one row per budget and scope, then what was blocked.</summary>
public static class BacktestTable
{
    public static void Write(BacktestReport report, IAnsiConsole console)
    {
        var c = CultureInfo.InvariantCulture;
        console.MarkupLine(c, report.Events == 0
            ? $"[bold]Backtest[/] of {Markup.Escape(report.Source)}: no events to replay"
            : $"[bold]Backtest[/] of {Markup.Escape(report.Source)}: {report.Events:N0} events, {report.From:yyyy-MM-dd HH:mm} to {report.To:yyyy-MM-dd HH:mm} UTC");
        if (report.MalformedLines > 0)
        {
            console.MarkupLine(c, $"[yellow]{report.MalformedLines:N0} malformed lines skipped[/]");
        }

        if (report.OutOfOrderEvents > 0)
        {
            console.MarkupLine(c, $"[yellow]{report.OutOfOrderEvents:N0} events were out of time order (up to {report.WorstLagSeconds:N0} s late); they were charged at the latest time seen[/]");
        }

        var table = new Table().AddColumns("Budget", "Scope", "Limit", "Spend", "Peak used", "Thresholds first fired (periods)", "Over limit", "Blocked", "Fallbacks", "Forecast error");
        foreach (var s in report.Scopes)
        {
            var limit = s.Unit == "usd" ? string.Create(c, $"${s.Limit:N2}/{s.Period}") : string.Create(c, $"{s.Limit:N0} tok/{s.Period}");
            var spend = s.Unit == "usd" ? string.Create(c, $"${s.Spend:N2}") : string.Create(c, $"{s.Spend:N0} tok");
            var thresholds = s.Thresholds.Count == 0 ? "-" : string.Join("\n", s.Thresholds.Select(t => string.Create(c, $"{t.Percent}%: {t.FirstFired:MM-dd HH:mm} ({t.Periods})")));
            var blocked = s.Blocked == 0 ? "-" : string.Create(c, $"{s.Blocked:N0} (${s.BlockedCostUsd:N2})");
            var forecast = s.Forecast is { } f ? string.Create(c, $"{f.MeanAbsoluteErrorPercent:N1}% over {f.Periods}") : "-";
            table.AddRow(
                Markup.Escape($"{s.Budget} ({s.Enforcement})"), Markup.Escape(s.Scope.Length == 0 ? "(shared)" : s.Scope), Markup.Escape(limit), Markup.Escape(spend),
                s.PeakUsedPercent >= 100 ? string.Create(c, $"[red]{s.PeakUsedPercent:N1}%[/]") : string.Create(c, $"{s.PeakUsedPercent:N1}%"),
                Markup.Escape(thresholds), s.OverLimitRequests.ToString("N0", c), Markup.Escape(blocked), s.Fallbacks.ToString("N0", c), forecast);
        }

        console.Write(table);
        var blockers = report.Scopes.Where(s => s.Blocked > 0).ToList();
        if (blockers.Count == 0)
        {
            return;
        }

        var top = new Table().AddColumns("Budget", "Scope", "Top pipelines blocked", "Top agent steps blocked");
        foreach (var s in blockers)
        {
            top.AddRow(Markup.Escape(s.Budget), Markup.Escape(s.Scope), Markup.Escape(Lines(s.BlockedByPipeline)), Markup.Escape(Lines(s.BlockedByAgentStep)));
        }

        console.Write(top);

        string Lines(IReadOnlyList<TopEntry> entries) => string.Join("\n", entries.Select(e => string.Create(c, $"{e.Name}: {e.Requests:N0} (${e.CostUsd:N2})")));
    }
}
