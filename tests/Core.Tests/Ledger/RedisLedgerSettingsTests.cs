using Tollgate.Core.Redis;

namespace Tollgate.Core.Tests.Ledger;

public sealed class RedisLedgerSettingsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-ledger-settings-").FullName;

    [Theory]
    [InlineData("s3cret\n", "s3cret")]
    [InlineData("s3cret\r\n", "s3cret")]
    [InlineData("s3cret", "s3cret")]
    [InlineData(" s3 cret \n\n", " s3 cret \n")]
    public void Password_comes_from_the_file_without_its_final_newline(string content, string password)
    {
        var options = new RedisLedgerSettings("redis://cache", "tollgate-meter", Write("password", content)).ToOptions(RedisLedgerAccess.ReadWrite);

        Assert.Equal(("tollgate-meter", password), (options.Address.User, options.Address.Password));
        Assert.DoesNotContain("s3", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_password_file_is_refused() =>
        Assert.Contains("is empty", Assert.Throws<FormatException>(() => new RedisLedgerSettings("redis://cache", PasswordFile: Write("password", "\n")).ToOptions(RedisLedgerAccess.Read)).Message, StringComparison.Ordinal);

    [Fact]
    public void Missing_password_file_is_refused_naming_it()
    {
        var path = Path.Combine(_directory, "absent");
        var error = Assert.Throws<FormatException>(() => new RedisLedgerSettings("redis://cache", PasswordFile: path).ToOptions(RedisLedgerAccess.Read));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Password_in_both_address_and_file_is_refused_without_repeating_either()
    {
        var error = Assert.Throws<FormatException>(() =>
            new RedisLedgerSettings("redis://u:inurl@cache", PasswordFile: Write("password", "infile")).ToOptions(RedisLedgerAccess.Read));
        Assert.DoesNotContain("inurl", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("infile", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void User_flag_that_contradicts_the_address_is_refused() =>
        Assert.Contains("differs", Assert.Throws<FormatException>(() => new RedisLedgerSettings("redis://tollgate-meter@cache", "tollgate-exporter").ToOptions(RedisLedgerAccess.Read)).Message, StringComparison.Ordinal);

    [Fact]
    public void Ca_file_without_tls_is_refused() =>
        Assert.Contains("rediss://", Assert.Throws<FormatException>(() => new RedisLedgerSettings("redis://cache", CaFile: Write("ca.pem", "x")).ToOptions(RedisLedgerAccess.Read)).Message, StringComparison.Ordinal);

    [Fact]
    public void Ca_file_without_a_certificate_is_refused_naming_it()
    {
        var path = Write("ca.pem", "not a certificate");
        var error = Assert.Throws<FormatException>(() => new RedisLedgerSettings("rediss://cache", CaFile: path).ToOptions(RedisLedgerAccess.Read));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Client_key_without_its_certificate_is_refused() =>
        Assert.Contains("client certificate", Assert.Throws<FormatException>(() => new RedisLedgerSettings("rediss://cache", KeyFile: Write("key.pem", "x")).ToOptions(RedisLedgerAccess.Read)).Message, StringComparison.Ordinal);

    [Fact]
    public void Settings_print_without_the_password() =>
        Assert.Equal("redis://u:***@cache", new RedisLedgerSettings("redis://u:s3cret@cache").ToString());

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }
}
