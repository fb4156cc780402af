using Microsoft.Extensions.Logging;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Operator.Controllers;

namespace Tollgate.Operator.Hosting;

/// <summary>
/// The operator's ledger when a file its settings name (the password, the CA) is not there yet. In config/default the
/// operator itself creates those Secrets (operator/LedgerWiring), so on a first install they cannot exist when it starts:
/// its controllers must run before its ledger can. Until the kubelet brings the files into the (optional) volumes, the
/// ledger is not ready and every call is <see cref="LedgerUnavailableException"/>, as while Redis is down; then it
/// connects as it would have at start. A setting that is wrong (not merely missing) still fails the start.
/// It owns the operator's one <see cref="RedisConnection"/> and the ledger on it, and disposes both.
/// </summary>
internal sealed class PendingLedger : IBudgetLedger
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _connecting;
    private Connected? _inner;

    private PendingLedger(RedisLedgerSettings settings, RedisLedgerAccess access, TimeProvider time, ILogger logger)
    {
        _connecting = Task.Run(() => ConnectWhenPresentAsync(settings, access, time, logger, _stop.Token), CancellationToken.None);
    }

    private PendingLedger(Connected connected)
    {
        _inner = connected;
        _connecting = Task.CompletedTask;
    }

    public string Name => "redis";

    public bool IsReady => Volatile.Read(ref _inner)?.Ledger.IsReady == true;

    /// <summary>Connects at once when every named file exists (errors in them fail here); otherwise returns a ledger that connects once they do.</summary>
    /// <exception cref="FormatException">The address is malformed, or a present file is unreadable or wrong.</exception>
    public static async Task<IBudgetLedger> ConnectAsync(
        RedisLedgerSettings settings, RedisLedgerAccess access, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (Missing(settings) is null)
        {
            return new PendingLedger(await Connected.OpenAsync(settings.ToOptions(access), time, logger, cancellationToken));
        }

        _ = WithoutFiles(settings).ToOptions(access);
        return new PendingLedger(settings, access, time, logger);
    }

    public ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken) =>
        Inner().ReserveAsync(requestId, charges, cancellationToken);

    public ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken) =>
        Inner().SettleAsync(requestId, charges, actual, cancellationToken);

    public ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        Inner().SnapshotAsync(now, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _connecting;
        _stop.Dispose();
        if (Volatile.Read(ref _inner) is { } inner)
        {
            await inner.Ledger.DisposeAsync();
            await inner.Connection.DisposeAsync();
        }
    }

    private RedisLedger Inner() =>
        Volatile.Read(ref _inner)?.Ledger ?? throw new LedgerUnavailableException("The Redis ledger's credentials or CA file are not mounted yet.");

    /// <summary>The first file the settings name that does not exist, or null.</summary>
    internal static string? Missing(RedisLedgerSettings settings) =>
        new[] { settings.PasswordFile, settings.CaFile, settings.CertificateFile, settings.KeyFile }
            .FirstOrDefault(f => !string.IsNullOrWhiteSpace(f) && !File.Exists(f));

    /// <summary>The settings without their files: what can be checked before the files are there (address and user).</summary>
    internal static RedisLedgerSettings WithoutFiles(RedisLedgerSettings settings) =>
        settings with { PasswordFile = null, CaFile = null, CertificateFile = null, KeyFile = null };

    private async Task ConnectWhenPresentAsync(RedisLedgerSettings settings, RedisLedgerAccess access, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var waitingFor = Missing(settings);
        OperatorLog.LedgerFileMissing(logger, waitingFor ?? string.Empty);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                // Files appear when the kubelet syncs the volume; there is no event to wait on.
                await Task.Delay(PollInterval, time, cancellationToken);
                if (Missing(settings) is not null)
                {
                    continue;
                }

                Volatile.Write(ref _inner, await Connected.OpenAsync(settings.ToOptions(access), time, logger, cancellationToken));
                OperatorLog.LedgerFilesPresent(logger);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or LedgerAccessDeniedException)
            {
                // Present but half-written, or wrong (a password being rotated): the next poll reads it again.
                OperatorLog.LedgerFileInvalid(logger, ex.Message);
            }
        }
    }

    /// <summary>The operator's one connection and the ledger on it (the operator uses Redis for nothing else).</summary>
    private sealed record Connected(RedisConnection Connection, RedisLedger Ledger)
    {
        public static async Task<Connected> OpenAsync(RedisLedgerOptions options, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
        {
            var connection = await RedisConnection.ConnectAsync(options, time, logger, cancellationToken);
            return new Connected(connection, new RedisLedger(connection, time, logger));
        }
    }
}
