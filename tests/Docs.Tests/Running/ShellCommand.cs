using System.Text.RegularExpressions;

namespace Tollgate.Docs.Tests.Running;

/// <summary>
/// A README command line on its way to bash. Every change to the documented text is explicit and checked: a rewrite
/// whose target is not in the command fails, so the README cannot drift away from what the test substitutes.
/// </summary>
public sealed partial record ShellCommand(string Text)
{
    /// <summary>Replaces a documented value (a cluster address, a path under /etc) with its local stand-in.</summary>
    public ShellCommand Rewrite(string documented, string local)
    {
        Assert.True(Text.Contains(documented, StringComparison.Ordinal), $"the README command no longer contains \"{documented}\": {Text}");
        return new ShellCommand(Text.Replace(documented, local, StringComparison.Ordinal));
    }

    /// <summary>Adds arguments the README leaves to defaults that cannot hold here (fixed ports on a shared machine, provider origins).</summary>
    public ShellCommand Append(params string[] arguments)
    {
        var (command, redirect) = SplitRedirect(Text);
        return new ShellCommand($"{command} {string.Join(' ', arguments.Select(Quote))}{redirect}");
    }

    /// <summary>The command with its <c>[optional]</c> parts left out.</summary>
    public ShellCommand WithoutOptionals() => new(Spaces().Replace(Optional().Replace(Text, string.Empty), " ").Trim());

    /// <summary>The command with every <c>[optional]</c> part given.</summary>
    public ShellCommand WithOptionals() => new(Optional().Replace(Text, m => m.Value[1..^1]));

    /// <summary>
    /// The text bash runs: <c>dotnet run --project meter --</c> becomes <c>dotnet meter/bin/…/Tollgate.Meter.dll</c>
    /// (same program, same arguments, no build step), likewise for the exporter and the offline tools (cli/).
    /// </summary>
    public string ForBash()
    {
        var text = Text
            .Replace("dotnet run --project meter --", $"dotnet {Quote(Repo.MeterDll)}", StringComparison.Ordinal)
            .Replace("dotnet run --project exporter --", $"dotnet {Quote(Repo.ExporterDll)}", StringComparison.Ordinal)
            .Replace("dotnet run --project cli --", $"dotnet {Quote(Repo.CliDll)}", StringComparison.Ordinal);

        // A single command is exec'ed, so the process the test signals and kills is the program itself, not a shell
        // (not when it starts with VAR=value: exec would take the assignment for the program).
        return text.IndexOfAny(['&', '|', ';']) < 0 && !LeadingAssignment().IsMatch(text) ? $"exec {text}" : text;
    }

    public override string ToString() => Text;

    public static string Quote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c)) ? value : $"'{value.Replace("'", "'\\''", StringComparison.Ordinal)}'";

    private static (string Command, string Redirect) SplitRedirect(string text)
    {
        var at = text.IndexOf(" > ", StringComparison.Ordinal);
        return at < 0 ? (text, string.Empty) : (text[..at], text[at..]);
    }

    [GeneratedRegex(@"\[[^\[\]]*\]")]
    private static partial Regex Optional();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*=")]
    private static partial Regex LeadingAssignment();

    [GeneratedRegex(" {2,}")]
    private static partial Regex Spaces();
}
