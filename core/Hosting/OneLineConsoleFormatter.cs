using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Tollgate.Core.Hosting;

/// <summary>
/// Console logs of every Tollgate process: one record per line, UTC timestamps, and every control character escaped.
/// Log messages carry client-supplied values (model names, tags, paths); a CR, LF or ESC in one must not forge a log
/// line or drive a terminal. Exceptions are written on the same line, their newlines escaped, so a log shipper never
/// splits a record.
/// </summary>
public sealed class OneLineConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "tollgate";

    /// <summary>Replaces the console provider's formatters with this one.</summary>
    public static void Use(ILoggingBuilder logging)
    {
        logging.AddConsole(o => o.FormatterName = FormatterName);

        // Registered directly rather than through AddConsoleFormatter<TFormatter, TOptions>, which binds options from
        // configuration by reflection (not available in the native meter); this formatter reads no options.
        logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter, OneLineConsoleFormatter>());
    }

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
        {
            return;
        }

        textWriter.Write(TimeProvider.System.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ss.fffZ ", CultureInfo.InvariantCulture));
        textWriter.Write(Level(logEntry.LogLevel));
        textWriter.Write(": ");
        WriteEscaped(textWriter, logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id.ToString(CultureInfo.InvariantCulture));
        textWriter.Write("] ");
        WriteEscaped(textWriter, message);
        if (logEntry.Exception is { } exception)
        {
            textWriter.Write(' ');
            WriteEscaped(textWriter, exception.ToString());
        }

        textWriter.Write(Environment.NewLine);
    }

    /// <summary>Writes <paramref name="text"/> with control characters (and Unicode line separators) as visible escapes.</summary>
    public static void WriteEscaped(TextWriter writer, ReadOnlySpan<char> text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (!char.IsControl(c) && c is not ('\u2028' or '\u2029'))
            {
                continue;
            }

            writer.Write(text[start..i]);
            writer.Write(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
            start = i + 1;
        }

        writer.Write(text[start..]);
    }

    /// <summary>The escaped form of <paramref name="text"/>, for tests and for values written elsewhere.</summary>
    public static string Escape(string text)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        WriteEscaped(writer, text);
        return writer.ToString();
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
