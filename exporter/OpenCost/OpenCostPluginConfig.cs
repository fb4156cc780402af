using System.Text.Json;
using System.Text.Json.Serialization;
using Tollgate.Core.Ledger.Redis;

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

        if (config?.Ledger is not { Length: > 0 } ledger)
        {
            throw new InvalidDataException($"{path}: \"ledger\" is required (redis://host:port[/db])");
        }

        try
        {
            _ = RedisLedgerAddress.Parse(ledger);
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
