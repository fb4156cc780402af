using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Hosting;

namespace Tollgate.Core.Tests.Hosting;

public sealed class OneLineConsoleFormatterTests
{
    [Theory]
    [InlineData("claude\r\n2026-01-01T00:00:00.000Z info: forged[0] approved", "claude\\r\\n2026-01-01T00:00:00.000Z info: forged[0] approved")]
    [InlineData("red\u001b[31malert", "red\\u001b[31malert")]
    [InlineData("nul\0tab\t", "nul\\u0000tab\\t")]
    [InlineData("line\u2028separator\u0085", "line\\u2028separator\\u0085")]
    [InlineData("plain café-model", "plain café-model")]
    public void Control_characters_in_logged_values_are_escaped(string value, string expected)
    {
        Assert.Equal(expected, OneLineConsoleFormatter.Escape(value));
    }

    [Fact]
    public void A_record_with_a_hostile_value_and_an_exception_stays_one_line()
    {
        var formatter = new OneLineConsoleFormatter();
        using var writer = new StringWriter();
        var entry = new Microsoft.Extensions.Logging.Abstractions.LogEntry<string>(
            LogLevel.Warning, "Tollgate.Meter", new EventId(7), "model gpt\nFAKE", new InvalidOperationException("first\nsecond"), (state, _) => "Blocked " + state);

        formatter.Write(entry, null, writer);

        var text = writer.ToString();
        Assert.Single(text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("warn: Tollgate.Meter[7] Blocked model gpt\\nFAKE System.InvalidOperationException: first\\nsecond", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Use_makes_it_the_console_formatter()
    {
        using var services = new ServiceCollection().AddLogging(OneLineConsoleFormatter.Use).BuildServiceProvider();
        var options = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>>().Value;
        Assert.Equal(OneLineConsoleFormatter.FormatterName, options.FormatterName);
    }
}
