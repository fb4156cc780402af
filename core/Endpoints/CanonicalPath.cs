using System.Text;

namespace Tollgate.Core.Endpoints;

/// <summary>
/// The one reading of a request path that both the meter and the provider get: percent-decoded, dot segments
/// resolved, empty segments and a trailing slash dropped, <c>;</c> parameters removed. The meter forwards this form,
/// never the client's spelling, so the endpoint it classified is the endpoint the provider serves. Encodings that
/// servers disagree about (an encoded <c>/</c>, <c>\</c>, <c>;</c>, <c>?</c>, <c>#</c>, NUL or other control
/// characters, invalid UTF-8) are refused rather than guessed.
/// </summary>
public static class CanonicalPath
{
    /// <summary>Longer paths are not API calls; refusing them bounds the work and what is logged.</summary>
    public const int MaxLength = 2048;

    /// <summary>Canonicalises the path part of an origin-form request target (no query).</summary>
    /// <param name="raw">The path as the client sent it, still percent-encoded.</param>
    /// <param name="path">The canonical, decoded path (always starts with <c>/</c>).</param>
    /// <param name="error">Why the path is refused, for a 400.</param>
    public static bool TryCanonicalize(ReadOnlySpan<char> raw, out string path, out string? error)
    {
        path = "/";
        if (raw.Length > MaxLength)
        {
            error = $"The request path is longer than {MaxLength} characters.";
            return false;
        }

        if (raw.IsEmpty || raw[0] != '/')
        {
            error = "The request target must be an absolute path such as /v1/messages.";
            return false;
        }

        if (IsAlreadyCanonical(raw))
        {
            // The spelling every SDK sends: nothing to decode, resolve or drop, so no per-request lists.
            path = raw.ToString();
            error = null;
            return true;
        }

        var segments = new List<string>();
        var bytes = new List<byte>(64);
        foreach (var range in raw[1..].Split('/'))
        {
            var segment = raw[1..][range];

            // Matrix parameters (";x") are dropped: some servers ignore them, others route on them.
            var semicolon = segment.IndexOf(';');
            if (semicolon >= 0)
            {
                segment = segment[..semicolon];
            }

            if (!TryDecode(segment, bytes, out var decoded, out error))
            {
                return false;
            }

            switch (decoded)
            {
                case "" or ".":
                    continue;
                case "..":
                    if (segments.Count == 0)
                    {
                        error = "The request path climbs above the root with \"..\".";
                        return false;
                    }

                    segments.RemoveAt(segments.Count - 1);
                    continue;
                default:
                    segments.Add(decoded);
                    break;
            }
        }

        path = "/" + string.Join('/', segments);
        error = null;
        return true;
    }

    private static bool TryDecode(ReadOnlySpan<char> segment, List<byte> bytes, out string decoded, out string? error)
    {
        decoded = string.Empty;
        if (segment.IndexOfAny('%', '\\') < 0 && !HasControl(segment))
        {
            decoded = segment.ToString();
            error = null;
            return true;
        }

        bytes.Clear();
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < segment.Length; i++)
        {
            var c = segment[i];
            if (c == '\\')
            {
                error = "The request path contains a backslash, which servers read differently; use /.";
                return false;
            }

            if (c != '%')
            {
                if (char.IsControl(c))
                {
                    error = "The request path contains a control character.";
                    return false;
                }

                var written = Encoding.UTF8.GetBytes(segment.Slice(i, char.IsHighSurrogate(c) && i + 1 < segment.Length ? 2 : 1), utf8);
                for (var b = 0; b < written; b++)
                {
                    bytes.Add(utf8[b]);
                }

                if (char.IsHighSurrogate(c))
                {
                    i++;
                }

                continue;
            }

            if (i + 2 >= segment.Length || !IsHex(segment[i + 1]) || !IsHex(segment[i + 2]))
            {
                error = "The request path has a malformed percent-encoding.";
                return false;
            }

            var value = (byte)((Hex(segment[i + 1]) << 4) | Hex(segment[i + 2]));
            if (value is (byte)'/' or (byte)'\\' or (byte)';' or (byte)'?' or (byte)'#' or < 0x20 or 0x7F)
            {
                error = $"The request path encodes '%{segment[i + 1]}{segment[i + 2]}', which servers decode differently; send the path unencoded.";
                return false;
            }

            bytes.Add(value);
            i += 2;
        }

        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            error = "The request path is not valid UTF-8 once decoded.";
            return false;
        }

        if (HasControl(decoded))
        {
            error = "The request path contains a control character.";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Letters, digits, <c>-</c>, <c>_</c> and single slashes, no trailing slash: nothing the slow path would change.</summary>
    private static bool IsAlreadyCanonical(ReadOnlySpan<char> raw)
    {
        if (raw.Length > 1 && raw[^1] == '/')
        {
            return false;
        }

        for (var i = 1; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c == '/' ? raw[i - 1] == '/' : !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasControl(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int Hex(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
