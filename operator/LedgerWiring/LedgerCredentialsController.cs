using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.Runtime;

namespace Tollgate.Operator.LedgerWiring;

/// <summary>
/// One ACL user per component with a password only that component holds. Each component's Secret (keys <c>user</c>,
/// <c>password</c>) is created once with a random password and never written again: a human rotates it (README
/// "Securing the ledger"), optionally keeping the old password under <c>previous-password</c> while clients move over.
/// From them the ACL file Redis loads is rendered into its own Secret, and Redis is restarted when that changes
/// (<see cref="RedisRestarter"/>). The operator may only get, create and update these Secrets, so nothing watches them:
/// every <see cref="LedgerWiringOptions.CheckInterval"/> they are read again and anything that differs is written.
/// </summary>
internal sealed class LedgerCredentialsController(
    IKubernetes client, LedgerWiringOptions options, string @namespace, ILogger logger) : IReconciler
{
    public const string Key = "ledger-credentials";
    public const string UserKey = "user";
    public const string PasswordKey = "password";

    /// <summary>During a rotation, the password being replaced: still accepted by Redis until a human removes it.</summary>
    public const string PreviousPasswordKey = "previous-password";

    public const string UsersKey = "users.acl";

    /// <summary>The pod-template annotation whose change restarts Redis with a new ACL file.</summary>
    public const string ChecksumAnnotation = "tollgate.io/users-checksum";

    private readonly RedisRestarter _restarter = new(client, @namespace, options.RedisName);

    public string Kind => "LedgerCredentials";

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        if (key != Key)
        {
            return ReconcileResult.Done;
        }

        var passwords = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var component in LedgerWiringOptions.Components)
        {
            var secret = await client.ReadAsync(@namespace, component.SecretName, cancellationToken);
            if (secret is null)
            {
                secret = SecretReader.New(@namespace, component.SecretName, "Opaque", new Dictionary<string, byte[]>
                {
                    [UserKey] = Encoding.UTF8.GetBytes(component.User),
                    [PasswordKey] = Encoding.UTF8.GetBytes(NewPassword()),
                });

                // A 409 (another leader was faster) fails this pass; the next one reads the winner's, never overwrites it.
                secret = await client.CoreV1.CreateNamespacedSecretAsync(secret, @namespace, cancellationToken: cancellationToken);
                LedgerWiringLog.CredentialsCreated(logger, @namespace, component.SecretName, component.User);
            }

            if (secret.Text(UserKey) != component.User || secret.Text(PasswordKey) is not { } password)
            {
                // Not repaired: a wrong Secret is a human's edit, and overwriting it would lock out whoever uses it now.
                return ReconcileResult.Failure(
                    $"Secret {@namespace}/{component.SecretName} must hold {UserKey}: {component.User} and a non-empty {PasswordKey}; the ACL file is left as it was");
            }

            passwords[component.User] = secret.Text(PreviousPasswordKey) is { } previous && previous != password ? [password, previous] : [password];
        }

        var rendered = RedisUsersFile.Render(RedisUsersFile.Template, passwords);
        var users = await client.ReadAsync(@namespace, options.UsersSecretName, cancellationToken);
        if (users is null)
        {
            await client.CoreV1.CreateNamespacedSecretAsync(
                SecretReader.New(@namespace, options.UsersSecretName, "Opaque", new Dictionary<string, byte[]> { [UsersKey] = Encoding.UTF8.GetBytes(rendered) }),
                @namespace,
                cancellationToken: cancellationToken);
            LedgerWiringLog.UsersWritten(logger, @namespace, options.UsersSecretName, passwords.Values.Sum(p => p.Count));
        }
        else if (users.Text(UsersKey) != rendered)
        {
            // Replace carries the read resourceVersion: a concurrent write is a 409 and a fresh pass, not a lost update.
            users.Data = new Dictionary<string, byte[]> { [UsersKey] = Encoding.UTF8.GetBytes(rendered) };
            await client.CoreV1.ReplaceNamespacedSecretAsync(users, options.UsersSecretName, @namespace, cancellationToken: cancellationToken);
            LedgerWiringLog.UsersWritten(logger, @namespace, options.UsersSecretName, passwords.Values.Sum(p => p.Count));
        }

        if (await _restarter.EnsureAsync(ChecksumAnnotation, Checksum(rendered), cancellationToken))
        {
            LedgerWiringLog.RedisRestarting(logger, @namespace, options.RedisName, "ACL file");
        }

        return ReconcileResult.Success(options.CheckInterval);
    }

    /// <summary>SHA-256 of the text, hex; of hashes only, so it reveals nothing of a password.</summary>
    internal static string Checksum(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    // 256 random bits, hex: safe in a file, a URL, JSON and a shell without quoting.
    private static string NewPassword() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
