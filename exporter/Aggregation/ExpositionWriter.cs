using System.Globalization;
using System.Text;

namespace Tollgate.Exporter.Aggregation;

/// <summary>
/// Writes the Prometheus text exposition format (0.0.4) by hand: the exporter's counters are restored from saved state
/// after a restart, which a client library's counters cannot be set to.
/// </summary>
internal sealed class ExpositionWriter(StringBuilder output)
{
    public void Family(string name, string type, string help)
    {
        output.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
        output.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    public void Sample(string name, IReadOnlyList<string> labelNames, IReadOnlyList<string> labelValues, double value, (string Name, string Value)? extra = null)
    {
        output.Append(name);
        if (labelNames.Count > 0 || extra is not null)
        {
            output.Append('{');
            for (var i = 0; i < labelNames.Count; i++)
            {
                if (i > 0)
                {
                    output.Append(',');
                }

                Label(labelNames[i], labelValues[i]);
            }

            if (extra is { } e)
            {
                if (labelNames.Count > 0)
                {
                    output.Append(',');
                }

                Label(e.Name, e.Value);
            }

            output.Append('}');
        }

        output.Append(' ').Append(Number(value)).Append('\n');
    }

    public static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private void Label(string name, string value)
    {
        output.Append(name).Append("=\"");
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': output.Append("\\\\"); break;
                case '"': output.Append("\\\""); break;
                case '\n': output.Append("\\n"); break;
                default: output.Append(c); break;
            }
        }

        output.Append('"');
    }
}
