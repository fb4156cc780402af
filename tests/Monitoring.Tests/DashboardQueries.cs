using System.Text.Json;

namespace Tollgate.Monitoring.Tests;

/// <summary>One panel of a Grafana dashboard and the PromQL of its targets.</summary>
public sealed record DashboardPanel(string Dashboard, string Title, string Type, IReadOnlyList<string> Exprs);

/// <summary>
/// Reads the PromQL queries out of the Grafana dashboards in a folder, panels nested in collapsed rows included, so
/// tests can check them statically or run each one against a real Prometheus.
/// </summary>
public static class DashboardQueries
{
    /// <summary>Every target expression of every panel: (dashboard uid, panel title, expr), in file and panel order.</summary>
    public static IReadOnlyList<(string Dashboard, string Panel, string Expr)> All(string grafanaDir) =>
        [.. Panels(grafanaDir).SelectMany(panel => panel.Exprs.Select(expr => (panel.Dashboard, panel.Title, expr)))];

    /// <summary>Every panel that is not a row, with its target expressions (empty when it has none).</summary>
    public static IReadOnlyList<DashboardPanel> Panels(string grafanaDir)
    {
        var panels = new List<DashboardPanel>();
        foreach (var file in DashboardFiles(grafanaDir))
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            var root = document.RootElement;
            var dashboard = root.TryGetProperty("uid", out var uid) && uid.ValueKind == JsonValueKind.String
                ? uid.GetString()!
                : Path.GetFileNameWithoutExtension(file);
            if (root.TryGetProperty("panels", out var list))
            {
                Collect(dashboard, list, panels);
            }
        }

        return panels;
    }

    /// <summary>The dashboard JSON files of the folder, sorted by name so results are stable.</summary>
    public static IReadOnlyList<string> DashboardFiles(string grafanaDir) =>
        [.. Directory.GetFiles(grafanaDir, "*.json").Order(StringComparer.Ordinal)];

    private static void Collect(string dashboard, JsonElement list, List<DashboardPanel> into)
    {
        foreach (var panel in list.EnumerateArray())
        {
            var type = panel.TryGetProperty("type", out var t) ? t.GetString() ?? string.Empty : string.Empty;
            if (type != "row")
            {
                var title = panel.TryGetProperty("title", out var name) ? name.GetString() ?? string.Empty : string.Empty;
                into.Add(new DashboardPanel(dashboard, title, type, Exprs(panel)));
            }

            // A collapsed row keeps its panels inside itself; an expanded one has them after it at the top level.
            if (panel.TryGetProperty("panels", out var nested) && nested.ValueKind == JsonValueKind.Array)
            {
                Collect(dashboard, nested, into);
            }
        }
    }

    private static List<string> Exprs(JsonElement panel)
    {
        var exprs = new List<string>();
        if (panel.TryGetProperty("targets", out var targets) && targets.ValueKind == JsonValueKind.Array)
        {
            foreach (var target in targets.EnumerateArray())
            {
                if (target.TryGetProperty("expr", out var expr) && expr.ValueKind == JsonValueKind.String
                    && !string.IsNullOrWhiteSpace(expr.GetString()))
                {
                    exprs.Add(expr.GetString()!);
                }
            }
        }

        return exprs;
    }
}
