using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.KeyBroker;

/// <summary>
/// Reads what a meter is given from Secrets in the operator's namespace, on every request (a rotated key reaches the
/// meters with their next refresh; RBAC grants <c>get</c> on Secrets there and nothing that could list or watch them).
/// </summary>
public sealed class BrokerSecrets(IKubernetes client, IOptions<KeyBrokerOptions> options, string operatorNamespace, ILogger<BrokerSecrets> logger)
{
    private const string LedgerUserKey = "user";
    private const string LedgerPasswordKey = "password";

    /// <exception cref="BrokerUnavailableException">A Secret could not be read.</exception>
    public async Task<BrokerCredentials> ReadAsync(NamespaceInfo podNamespace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(podNamespace);
        var o = options.Value;
        var provider = await ReadAsync(o.ProviderSecret, cancellationToken) ?? new Dictionary<string, string>(StringComparer.Ordinal);
        var secrets = new SortedDictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var name in podNamespace.RouteSecrets.Distinct(StringComparer.Ordinal))
        {
            if (await ReadAsync(name, cancellationToken) is { } data)
            {
                secrets[name] = data;
            }
        }

        LedgerCredentials? ledger = null;
        if (await ReadAsync(o.LedgerSecret, cancellationToken, quietWhenMissing: true) is { } ledgerData
            && ledgerData.TryGetValue(LedgerUserKey, out var user) && user.Length > 0
            && ledgerData.TryGetValue(LedgerPasswordKey, out var password) && password.Length > 0)
        {
            ledger = new LedgerCredentials(user, password);
        }

        return new BrokerCredentials(provider, secrets, ledger, o.RefreshSeconds);
    }

    private async Task<Dictionary<string, string>?> ReadAsync(string name, CancellationToken cancellationToken, bool quietWhenMissing = false)
    {
        var secret = await BrokerApi.FindAsync(
            $"read Secret {operatorNamespace}/{name}",
            options.Value.ApiTimeout,
            ct => client.CoreV1.ReadNamespacedSecretAsync(name, operatorNamespace, cancellationToken: ct),
            cancellationToken);
        if (secret is null)
        {
            if (!quietWhenMissing)
            {
                KeyBrokerLog.SecretMissing(logger, operatorNamespace, name);
            }

            return null;
        }

        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in secret.Data ?? new Dictionary<string, byte[]>())
        {
            data[key] = Encoding.UTF8.GetString(value);
        }

        foreach (var (key, value) in secret.StringData ?? new Dictionary<string, string>())
        {
            data.TryAdd(key, value);
        }

        return data;
    }
}
