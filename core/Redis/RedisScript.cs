using System.Security.Cryptography;
using System.Text;

namespace Tollgate.Core.Redis;

/// <summary>A script's text and the SHA-1 that EVALSHA names it by.</summary>
internal sealed class RedisScript(string text)
{
    public string Text { get; } = text;

#pragma warning disable CA5350 // Redis identifies cached scripts by SHA-1; this is a cache key, not a security boundary.
    public byte[] Hash { get; } = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
}
