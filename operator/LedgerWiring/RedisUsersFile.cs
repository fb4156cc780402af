using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Operator.LedgerWiring;

/// <summary>
/// The shipped <c>config/redis/users.acl</c>, compiled into the operator (one home for the ACL lines), turned into the
/// file Redis loads: each component user switched <c>on</c> with the SHA-256 of its password(s). Only hashes are written
/// (<c>#&lt;hex&gt;</c>), so the rendered file holds no password: reading it lets nobody log in.
/// </summary>
internal static class RedisUsersFile
{
    private const string ResourceName = "Tollgate.Operator.LedgerWiring.users.acl";

    /// <summary>The shipped file as compiled in.</summary>
    public static string Template { get; } = Load();

    /// <summary>
    /// The template with every user named in <paramref name="passwords"/> turned on with the hash of each of its passwords
    /// (two during a rotation). The rules go after the line's own <c>off ... resetpass</c>: Redis applies them left to right.
    /// Users of the template not named stay off; the default user is never turned on.
    /// </summary>
    /// <exception cref="ArgumentException">A named user is not in the template, or has no password.</exception>
    public static string Render(string template, IReadOnlyDictionary<string, IReadOnlyList<string>> passwords)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(passwords);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var output = new StringBuilder();
        foreach (var line in template.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.Length == 0)
            {
                continue;
            }

            output.Append(trimmed);
            if (UserOf(trimmed) is { } user && user != "default" && passwords.TryGetValue(user, out var userPasswords))
            {
                if (userPasswords.Count == 0)
                {
                    throw new ArgumentException($"The ledger user {user} has no password.", nameof(passwords));
                }

                seen.Add(user);
                output.Append(" on");
                foreach (var password in userPasswords)
                {
                    output.Append(" #").Append(Hash(password));
                }
            }

            output.Append('\n');
        }

        if (passwords.Keys.FirstOrDefault(u => !seen.Contains(u)) is { } missing)
        {
            throw new ArgumentException($"The ledger user {missing} is not in the shipped ACL file.", nameof(passwords));
        }

        return output.ToString();
    }

    /// <summary>The users the template defines, in order.</summary>
    public static IReadOnlyList<string> Users(string template) =>
        [.. template.Split('\n').Select(l => UserOf(l.TrimEnd('\r'))).OfType<string>()];

    /// <summary>Redis' <c>#&lt;hash&gt;</c> form: SHA-256 of the password's bytes, lowercase hex.</summary>
    public static string Hash(string password) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(password)));

    private static string? UserOf(string line) =>
        line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries) is ["user", var name, ..] ? name : null;

    private static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"{ResourceName} is not compiled into the operator (see operator/Operator.csproj).");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
