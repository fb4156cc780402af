using System.Text.Json;
using System.Text.Json.Serialization;
using Tollgate.Core.Redis;

namespace Tollgate.Exporter.OpenCost;

/// <summary>
/// The plugin's config file, which OpenCost passes as the only argument (<c>tollgate_config.json</c> in its
/// <c>PLUGIN_CONFIG_DIR</c>): <c>{"ledger":"redis://host:port/db","currency":"USD"}</c>.
/// </summary>
internal sealed record OpenCostPluginConfig
{
    // A misspelt key would otherwise be ignored and the plugin would quietly run on defaults.
    private static readonly JsonSerializerOptions Strict = new() { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>The shared Redis ledger whose usage stream holds the spend, as the meters' and exporter's <c>--ledger</c>.</summary>
    [JsonPropertyName("ledger")]
    public string? Ledger { get; init; }

    /// <summary>The ledger's Redis ACL user (<c>tollgate-exporter</c> in a cluster), as the exporter's <c>--ledger-user</c>.</summary>
    [JsonPropertyName("ledgerUser")]
    public string? LedgerUser { get; init; }

    /// <summary>A file holding the ledger's password, as the exporter's <c>--ledger-password-file</c>; never put the password in this config.</summary>
    [JsonPropertyName("ledgerPasswordFile")]
    public string? LedgerPasswordFile { get; init; }

    /// <summary>PEM CA bundle for a <c>rediss://</c> ledger, as <c>--ledger-ca</c>.</summary>
    [JsonPropertyName("ledgerCa")]
    public string? LedgerCa { get; init; }

    /// <summary>PEM client certificate for a <c>rediss://</c> ledger, as <c>--ledger-cert</c>.</summary>
    [JsonPropertyName("ledgerCert")]
    public string? LedgerCert { get; init; }

    /// <summary>PEM key of <see cref="LedgerCert"/>, as <c>--ledger-key</c>.</summary>
    [JsonPropertyName("ledgerKey")]
    public string? LedgerKey { get; init; }

    /// <summary>The ledger connection this config names.</summary>
    [JsonIgnore]
    public RedisLedgerSettings LedgerSettings => new(Ledger ?? string.Empty, LedgerUser, LedgerPasswordFile, LedgerCa, LedgerCert, LedgerKey);

    /// <summary>FOCUS billing currency of every response. Only USD: the meters price in US dollars and nothing here converts.</summary>
    [JsonPropertyName("currency")]
    public string Currency { get; init; } = "USD";

    /// <summary>Reads and checks the file; the exception's message names the file and what is wrong with it.</summary>
    public static OpenCostPluginConfig Load(string path)
    {
        OpenCostPluginConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<OpenCostPluginConfig>(File.ReadAllText(path), Strict);
        }
        catch (IOException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not a valid config ({ex.Message})", ex);
        }

        if (config?.Ledger is not { Length: > 0 })
        {
            throw new InvalidDataException($"{path}: \"ledger\" is required (redis://host:port[/db])");
        }

        try
        {
            _ = config.LedgerSettings.ToOptions(RedisLedgerAccess.Read);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"{path}: \"ledger\": {ex.Message}", ex);
        }

        if (!string.Equals(config.Currency, "USD", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: \"currency\": {config.Currency} is not supported; usage is priced in USD");
        }

        return config;
    }
}
