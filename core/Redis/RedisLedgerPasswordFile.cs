namespace Tollgate.Core.Redis;

/// <summary>
/// A password file (<c>--ledger-password-file</c>, a mounted Secret) read again at every connect, so a rotated Secret
/// is used by the next connection. A file that cannot be read then, or is empty (the kubelet swaps a Secret volume's
/// files atomically, but an operator editing a plain file may leave it half written), keeps the last good password.
/// </summary>
public sealed class RedisLedgerPasswordFile : IRedisLedgerCredentials
{
    private readonly string? _user;
    private readonly string _path;
    private volatile RedisLedgerCredential _last;

    /// <summary>Reads the file once, so that a missing or empty one is refused at start.</summary>
    /// <exception cref="FormatException">The file cannot be read or is empty; the message names the file, never its content.</exception>
    public RedisLedgerPasswordFile(string? user, string path)
    {
        _user = user;
        _path = path;
        _last = new RedisLedgerCredential(user, Read(path));
    }

    public string Path => _path;

    /// <summary>Why the last re-read failed (the last good password is in use), or null.</summary>
    public string? LastProblem { get; private set; }

    public RedisLedgerCredential Current
    {
        get
        {
            try
            {
                var password = Read(_path);
                if (password != _last.Password)
                {
                    _last = new RedisLedgerCredential(_user, password);
                }

                LastProblem = null;
            }
            catch (FormatException ex)
            {
                LastProblem = ex.Message;
            }

            return _last;
        }
    }

    /// <exception cref="FormatException">The file cannot be read or is empty.</exception>
    internal static string Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"The Redis ledger password file '{path}' cannot be read: {ex.Message}", ex);
        }

        // `echo secret > file` and most editors end the file with a newline that is no part of the password.
        var password = text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
        return password.Length > 0
            ? password
            : throw new FormatException($"The Redis ledger password file '{path}' is empty.");
    }
}
