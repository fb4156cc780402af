using k8s;
using k8s.Models;
using Tollgate.Operator.Runtime;

namespace Tollgate.Operator.LedgerWiring;

internal static class SecretReader
{
    /// <returns>The Secret, or null when it does not exist.</returns>
    public static Task<V1Secret?> ReadAsync(this IKubernetes client, string @namespace, string name, CancellationToken cancellationToken) =>
        NotFound.AsNullAsync(() => client.CoreV1.ReadNamespacedSecretAsync(name, @namespace, cancellationToken: cancellationToken));

    /// <summary>A key's value as text, or null when missing or empty.</summary>
    public static string? Text(this V1Secret secret, string key) =>
        secret.Data?.TryGetValue(key, out var bytes) == true && bytes.Length > 0 ? System.Text.Encoding.UTF8.GetString(bytes) : null;

    /// <summary>A new Secret of the operator's, labelled as the operator's other objects are.</summary>
    public static V1Secret New(string @namespace, string name, string type, IDictionary<string, byte[]> data) => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = @namespace,
            Labels = new Dictionary<string, string>
            {
                ["app.kubernetes.io/part-of"] = "tollgate",
                ["app.kubernetes.io/managed-by"] = "tollgate-operator",
            },
        },
        Type = type,
        Data = data,
    };
}
