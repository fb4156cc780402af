namespace Tollgate.Meter.Tests;

/// <summary>Issue 16: the meter's ledger flags, refused before anything starts and without ever echoing a password.</summary>
public sealed class LedgerCommandLineTests
{
    [Theory]
    [InlineData("--ledger", "redis://tollgate-meter:s3cret@cache:6379", "--ledger-ca", "/nonexistent/ca.pem")]
    [InlineData("--ledger", "redis://tollgate-meter:s3cret@ca che:6379")]
    [InlineData("--ledger", "rediss://tollgate-meter:s3cret@cache", "--ledger-ca", "/nonexistent/ca.pem")]
    [InlineData("--ledger", "redis://:s3cret@cache", "--ledger-user", "tollgate-meter", "--ledger-password-file", "/nonexistent/password")]
    public async Task Bad_ledger_settings_exit_2_naming_the_flag_without_the_password(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await MeterProgram.RunAsync(args, output, error);

        Assert.Equal(2, code);
        Assert.StartsWith("tollgate-meter: --ledger", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", error.ToString() + output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--ledger-user", "tollgate-meter")]
    [InlineData("--ledger-password-file", "/etc/tollgate/ledger/password")]
    [InlineData("--ledger-ca", "/etc/tollgate/ledger/ca.pem")]
    public async Task Redis_credentials_with_an_embedded_ledger_are_refused(string flag, string value)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await MeterProgram.RunAsync(["--ledger", "memory", flag, value], output, error);

        Assert.Equal(2, code);
        Assert.Contains("apply to a Redis ledger", error.ToString(), StringComparison.Ordinal);
    }
}
