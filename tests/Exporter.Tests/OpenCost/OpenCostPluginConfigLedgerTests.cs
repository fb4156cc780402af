using Tollgate.Exporter.OpenCost;

namespace Tollgate.Exporter.Tests.OpenCost;

/// <summary>Issue 16: the plugin's config names the ledger's user and password file as the exporter's flags do.</summary>
public sealed class OpenCostPluginConfigLedgerTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-opencost-config-").FullName;

    [Fact]
    public void User_and_password_file_make_the_ledgers_credentials()
    {
        var password = Path.Combine(_directory, "password");
        File.WriteAllText(password, "s3cret\n");
        var config = OpenCostPluginConfig.Load(Write($$"""{"ledger":"redis://cache:6379/0","ledgerUser":"tollgate-exporter","ledgerPasswordFile":"{{password}}"}"""));

        var options = config.LedgerSettings.ToOptions(Core.Redis.RedisLedgerAccess.Read);
        Assert.Equal(("tollgate-exporter", "s3cret"), (options.Address.User, options.Address.Password));
    }

    [Fact]
    public void Missing_password_file_is_refused_naming_it()
    {
        var missing = Path.Combine(_directory, "absent");
        var error = Assert.Throws<InvalidDataException>(() => OpenCostPluginConfig.Load(Write($$"""{"ledger":"redis://cache","ledgerPasswordFile":"{{missing}}"}""")));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_ledger_with_a_password_is_refused_without_repeating_it()
    {
        var error = Assert.Throws<InvalidDataException>(() => OpenCostPluginConfig.Load(Write("""{"ledger":"redis://u:s3cret@cache:abc"}""")));
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string json)
    {
        var path = Path.Combine(_directory, "tollgate_config.json");
        File.WriteAllText(path, json);
        return path;
    }
}
