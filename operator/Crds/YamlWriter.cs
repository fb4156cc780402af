using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.Operator.Crds;

/// <summary>
/// Writes a JSON tree as block-style YAML in the layout controller-gen uses: keys sorted, sequences not indented under
/// their key, strings plain unless YAML would read them as something else.
/// </summary>
/// <remarks>
/// Hand-written rather than YamlDotNet's serializer because the output is checked in and compared byte for byte: its
/// layout and quoting must not move with a library upgrade.
/// </remarks>
internal static class YamlWriter
{
    // Words YAML 1.1 (which kubectl's parser still honours for booleans) or 1.2 read as booleans or null.
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    };

    public static string Write(JsonObject root)
    {
        var text = new StringBuilder();
        WriteMapping(text, root, 0);
        return text.ToString();
    }

    private static void WriteMapping(StringBuilder text, JsonObject mapping, int indent)
    {
        foreach (var (key, value) in mapping.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append(' ', indent).Append(Scalar(key)).Append(':');
            WriteValue(text, value, indent);
        }
    }

    // Writes what follows "key:" (or "- "), starting on the current line.
    private static void WriteValue(StringBuilder text, JsonNode? value, int indent)
    {
        switch (value)
        {
            case JsonObject { Count: 0 }:
                text.Append(" {}\n");
                break;
            case JsonArray { Count: 0 }:
                text.Append(" []\n");
                break;
            case JsonObject mapping:
                text.Append('\n');
                WriteMapping(text, mapping, indent + 2);
                break;
            case JsonArray sequence:
                text.Append('\n');
                WriteSequence(text, sequence, indent);
                break;
            default:
                text.Append(' ').Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static void WriteSequence(StringBuilder text, JsonArray sequence, int indent)
    {
        foreach (var item in sequence)
        {
            text.Append(' ', indent).Append('-');
            if (item is JsonObject { Count: > 0 } mapping)
            {
                // The first key shares the dash's line; the rest line up under it.
                var first = true;
                foreach (var (key, value) in mapping.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    text.Append(' ', first ? 1 : indent + 2).Append(Scalar(key)).Append(':');
                    WriteValue(text, value, indent + 2);
                    first = false;
                }
            }
            else if (item is JsonArray { Count: > 0 })
            {
                throw new NotSupportedException("a list directly inside a list");
            }
            else
            {
                WriteValue(text, item, indent);
            }
        }
    }

    private static string Scalar(JsonNode? node)
    {
        if (node is null)
        {
            return "null";
        }

        var value = node.AsValue();
        if (value.TryGetValue<string>(out var s))
        {
            return Scalar(s);
        }

        // Numbers and booleans: their JSON spelling is also their YAML spelling.
        return node.ToJsonString();
    }

    private static string Scalar(string s) => IsPlain(s) ? s : Quote(s);

    private static bool IsPlain(string s)
    {
        if (s.Length == 0 || s != s.Trim() || Reserved.Contains(s))
        {
            return false;
        }

        // Indicators that start something other than a plain scalar; a digit, sign or dot could start a number.
        if ("-?:,[]{}#&*!|>'\"%@`+0123456789".Contains(s[0], StringComparison.Ordinal)
            || (s[0] == '.' && (s.Length == 1 || char.IsAsciiDigit(s[1]) || s.StartsWith(".inf", StringComparison.OrdinalIgnoreCase) || s.StartsWith(".nan", StringComparison.OrdinalIgnoreCase))))
        {
            return false;
        }

        return !s.Contains(": ", StringComparison.Ordinal)
            && !s.Contains(" #", StringComparison.Ordinal)
            && !s.EndsWith(':')
            && s.All(c => c >= ' ' && c != '\u007f');
    }

    private static string Quote(string s)
    {
        var text = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            _ = c switch
            {
                '"' => text.Append("\\\""),
                '\\' => text.Append("\\\\"),
                '\n' => text.Append("\\n"),
                '\t' => text.Append("\\t"),
                < ' ' or '\u007f' => text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => text.Append(c),
            };
        }

        return text.Append('"').ToString();
    }
}
