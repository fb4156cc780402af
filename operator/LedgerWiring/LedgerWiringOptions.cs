namespace Tollgate.Operator.LedgerWiring;

/// <summary>
/// What the operator sets up for the shipped Redis (<c>config/redis</c>): its serving certificate, one ACL user with a
/// password per component, and the ACL file. Defaults match <c>config/default</c>; turn it off
/// (<c>Tollgate__LedgerWiring__Enabled=false</c>) when the ledger is a Redis you run yourself.
/// </summary>
public sealed class LedgerWiringOptions
{
    public const string SectionName = "Tollgate:LedgerWiring";

    public bool Enabled { get; set; } = true;

    /// <summary>Where Redis and every Secret below live; default (empty) the operator's own namespace.</summary>
    public string Namespace { get; set; } = string.Empty;

    /// <summary>The StatefulSet and its governing (headless) Service: the certificate's names and the pod template restarted on change.</summary>
    public string RedisName { get; set; } = "tollgate-redis";

    /// <summary>The Redis serving certificate: <c>tls.crt</c>, <c>tls.key</c> and <c>ca.crt</c> (the operator's CA bundle).</summary>
    public string TlsSecretName { get; set; } = "tollgate-redis-tls";

    /// <summary>The rendered ACL file, key <see cref="LedgerCredentialsController.UsersKey"/>, mounted by Redis.</summary>
    public string UsersSecretName { get; set; } = "tollgate-redis-users";

    /// <summary>The Secret that holds the operator's CA with its key (the webhook's, <c>Tollgate:WebhookTls:SecretName</c>).</summary>
    public string CaSecretName { get; set; } = "tollgate-webhook-tls";

    /// <summary>How often the Secrets and the certificate are checked; nothing watches them (the operator may only get them).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// After a CA rotation, how long the previous certificate is still served while the new CA bundle reaches the
    /// clients (the kubelet syncs mounted Secrets and ConfigMaps within about a minute; clients re-read the file at every
    /// handshake). Default 10 min.
    /// </summary>
    public TimeSpan CaPropagation { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The component users of <c>config/redis/users.acl</c> and the Secret each one's credentials live in.</summary>
    public static IReadOnlyList<LedgerComponent> Components { get; } =
    [
        new("tollgate-ledger-meter", "tollgate-meter"),
        new("tollgate-ledger-exporter", "tollgate-exporter"),
        new("tollgate-ledger-operator", "tollgate-operator"),
    ];

    /// <summary>
    /// The names clients may dial: the Service in every DNS form, and the pod's own name under the governing Service
    /// (<c>tollgate-redis-0.tollgate-redis...</c>), which a client that follows a replica's announced address uses.
    /// </summary>
    public IReadOnlyList<string> DnsNames(string @namespace) =>
    [
        RedisName,
        $"{RedisName}.{@namespace}",
        $"{RedisName}.{@namespace}.svc",
        $"{RedisName}.{@namespace}.svc.cluster.local",
        $"{RedisName}-0.{RedisName}.{@namespace}.svc",
        $"{RedisName}-0.{RedisName}.{@namespace}.svc.cluster.local",
    ];
}

/// <summary>One component's ledger credentials: the Secret (keys <c>user</c>, <c>password</c>) and the ACL user it names.</summary>
public sealed record LedgerComponent(string SecretName, string User);
