using Tollgate.Core.Hosting;
using Tollgate.Core.Serialization;
using Tollgate.Meter.CommandLine;
using Tollgate.Meter.Hosting;

namespace Tollgate.Meter;

/// <summary>Entry point: parse, load, serve. Every start-up failure exits non-zero with one line that names its cause.</summary>
public static class MeterProgram
{
    public const int ExitUsage = ProgramExit.Usage;
    public const int ExitConfiguration = ProgramExit.Configuration;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        if (MeterCommandLine.MovedCommand(args) is { } moved)
        {
            await error.WriteLineAsync($"tollgate-meter: {moved}");
            return ExitUsage;
        }

        if (ProgramExit.AsksForHelp(args))
        {
            return await MeterCommandLine.Command.Parse(args).InvokeAsync(cancellationToken: cancellationToken);
        }

        var (options, usageError) = MeterCommandLine.Parse(args, Environment.GetEnvironmentVariable);
        if (options is null)
        {
            await error.WriteLineAsync($"tollgate-meter: {usageError}");
            return ExitUsage;
        }

        MeterApp app;
        try
        {
            app = await MeterApp.CreateAsync(options, cancellationToken: cancellationToken);
        }
        catch (DocumentException ex)
        {
            await error.WriteLineAsync($"tollgate-meter: {ex.Message}");
            foreach (var more in ex.Errors.Skip(1))
            {
                await error.WriteLineAsync($"  also: {more}");
            }

            return ExitConfiguration;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"tollgate-meter: --ledger {options.PrintableLedger}: {ex.Message}");
            return ExitConfiguration;
        }

        await using (app)
        {
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException ex)
            {
                await error.WriteLineAsync($"tollgate-meter: cannot listen on {options.Listen} / {options.AdminListen}: {ex.Message}");
                return ExitConfiguration;
            }

            await output.WriteLineAsync($"tollgate-meter: proxy on {app.ProxyUri}, admin on {app.AdminUri}; point ANTHROPIC_BASE_URL={app.ProxyUri.ToString().TrimEnd('/')} and OPENAI_BASE_URL={app.ProxyUri}v1");
            await app.WaitForShutdownAsync(cancellationToken);
        }

        return ProgramExit.Ok;
    }
}
