using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;

namespace Tollgate.Core.Caching;

/// <summary>
/// Identifies a cacheable request: the SHA-256 of its provider, path, isolation scope and canonical body. Two requests
/// share a key only when all four match, so an entry is never served across scopes (teams).
/// </summary>
public readonly record struct ResponseCacheKey
{
    /// <summary>The top-level request property left out of the key (see <see cref="Compute"/>).</summary>
    public const string IgnoredProperty = "stream_options";

    // Changing what goes into the hash changes this, so keys of the old form can never match keys of the new.
    private static ReadOnlySpan<byte> Version => "tollgate.response-cache.v1\n"u8;

    private ResponseCacheKey(string hash) => Hash = hash;

    /// <summary>The SHA-256 of the key material, as 64 lowercase hex digits.</summary>
    public string Hash { get; }

    /// <summary>
    /// Computes the key of a request. The body is canonicalised first (see below) so requests that differ only in
    /// property order, whitespace or string escaping share a key; every field counts (model, <c>stream</c>,
    /// <c>temperature</c>, ...) except the top-level <c>stream_options</c>, which only asks OpenAI to report usage
    /// and which the meter may add itself. Numbers are compared as written: <c>1</c> and <c>1.0</c> differ.
    /// </summary>
    /// <param name="requestBody">The request's JSON body as the client sent it.</param>
    /// <param name="provider">The provider the request goes to (<c>openai</c>, <c>anthropic</c>).</param>
    /// <param name="path">The request path, e.g. <c>/v1/chat/completions</c>.</param>
    /// <param name="scope">The isolation value (the request's team); requests of different scopes never share a key.</param>
    /// <exception cref="JsonException">The body is not well-formed JSON.</exception>
    public static ResponseCacheKey Compute(ReadOnlySpan<byte> requestBody, string provider, string path, string scope)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(scope);

        var canonical = new ArrayBufferWriter<byte>(Math.Max(256, requestBody.Length));
        CanonicalJson.Write(requestBody, canonical, IgnoredProperty);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Version);
        AppendLengthPrefixed(sha, provider);
        AppendLengthPrefixed(sha, path);
        AppendLengthPrefixed(sha, scope);

        // Last and unprefixed: everything before it is length-prefixed, so the body is simply the rest.
        sha.AppendData(canonical.WrittenSpan);

        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        sha.GetHashAndReset(digest);
        return new ResponseCacheKey(Convert.ToHexStringLower(digest));
    }

    /// <summary>The hash, for logs.</summary>
    public override string ToString() => Hash;

    private static void AppendLengthPrefixed(IncrementalHash sha, string value)
    {
        // The UTF-16 code units as they are: exact even for a header value that is not valid Unicode, where a
        // transcoding would map different strings to the same replacement character. The key lives in-process only.
        var bytes = MemoryMarshal.AsBytes(value.AsSpan());
        Span<byte> length = stackalloc byte[sizeof(int)];
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        sha.AppendData(length);
        sha.AppendData(bytes);
    }
}
