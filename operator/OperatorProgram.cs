using System.CommandLine;
using k8s.Exceptions;
using Microsoft.Extensions.Configuration;
using Tollgate.Core.Hosting;
using Tollgate.Core.Redis;
using Tollgate.Operator.CommandLine;
using Tollgate.Operator.Crds;
using Tollgate.Operator.Hosting;

namespace Tollgate.Operator;

/// <summary>Entry point: parse, configure, run. A start-up failure exits non-zero with one line that names its cause.</summary>
public static class OperatorProgram
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var result = OperatorCommandLine.Command.Parse(args);
        if (ProgramExit.AsksForHelp(args))
        {
            return await result.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
        }

        if (result.Errors.Count > 0)
        {
            await error.WriteLineAsync($"tollgate-operator: {result.Errors[0].Message}");
            return ProgramExit.Usage;
        }

        if (result.CommandResult.Command == OperatorCommandLine.GenerateCrds)
        {
            return await GenerateCrdsAsync(result.GetValue(OperatorCommandLine.CrdDirectory)!, output, error);
        }

        var (settings, usageError) = OperatorCommandLine.Settings(result);
        if (settings is null)
        {
            await error.WriteLineAsync($"tollgate-operator: {usageError}");
            return ProgramExit.Usage;
        }

        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(settings).Build();
        if (Invalid(configuration, settings) is var (message, exitCode))
        {
            await error.WriteLineAsync($"tollgate-operator: {message}");
            return exitCode;
        }

        try
        {
            return await OperatorRunner.RunAsync(configuration, cancellationToken);
        }
        catch (KubeConfigException ex)
        {
            // KUBECONFIG, ~/.kube/config or the pod's service account files exist but cannot be used.
            await error.WriteLineAsync($"tollgate-operator: Kubernetes API: {ex.Message}");
            return ProgramExit.Configuration;
        }
        catch (IOException ex)
        {
            // Thrown before serving only: a listen address already taken (the message names the flag).
            await error.WriteLineAsync($"tollgate-operator: {ex.Message}");
            return ProgramExit.Configuration;
        }
    }

    /// <summary>
    /// A required setting missing (a command line error), or one the environment contributed that cannot work (a
    /// configuration error); the flags' own values were checked as they were parsed.
    /// </summary>
    private static (string Message, int ExitCode)? Invalid(IConfiguration configuration, IReadOnlyDictionary<string, string?> flags)
    {
        if (configuration[OperatorCommandLine.LedgerKey] is not { Length: > 0 } ledger)
        {
            return ("--ledger: required (redis://host:port[/db]; or env Tollgate__Ledger__Address)", ProgramExit.Usage);
        }

        try
        {
            // Reads the password and certificate files too, so a wrong one fails the start, not the first status read. A file
            // not there yet is waited for (Hosting/PendingLedger): on a first install the operator creates those Secrets itself.
            var settings = OperatorRunner.LedgerSettings(configuration);
            _ = (PendingLedger.Missing(settings) is null ? settings : PendingLedger.WithoutFiles(settings)).ToOptions(RedisLedgerAccess.Read);
        }
        catch (FormatException ex)
        {
            return ($"{(flags.ContainsKey(OperatorCommandLine.LedgerKey) ? "--ledger" : "Tollgate__Ledger__Address")}: {ex.Message}", ProgramExit.Configuration);
        }

        try
        {
            _ = OperatorRunner.ReadOptions(configuration);
        }
        catch (InvalidOperationException ex)
        {
            // The binder names the key and the value it could not convert (e.g. Tollgate__LeaderElection__Enabled=yes).
            return ($"environment: {ex.Message}", ProgramExit.Configuration);
        }

        return null;
    }

    private static async Task<int> GenerateCrdsAsync(string directory, TextWriter output, TextWriter error)
    {
        try
        {
            // Relative to where the command was typed (RunWorkingDirectory), so "crds" means the repository's folder.
            foreach (var path in CrdGenerator.Write(directory))
            {
                await output.WriteLineAsync($"wrote {path}");
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"tollgate-operator generate-crds: {directory}: {ex.Message}");
            return ProgramExit.Configuration;
        }

        return ProgramExit.Ok;
    }
}
