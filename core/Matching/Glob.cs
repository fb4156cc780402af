namespace Tollgate.Core.Matching;

/// <summary>Shell-style globs (<c>*</c> any run, <c>?</c> one character), matched case-sensitively without regex.</summary>
public static class Glob
{
    public static bool IsMatch(string pattern, string value) => IsMatch(pattern.AsSpan(), value.AsSpan());

    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> value)
    {
        int p = 0, v = 0, star = -1, mark = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == value[v]))
            {
                p++;
                v++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = v;
            }
            else if (star >= 0)
            {
                p = star + 1;
                v = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
