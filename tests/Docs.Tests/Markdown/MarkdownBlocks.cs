namespace Tollgate.Docs.Tests.Markdown;

/// <summary>Reads the fenced code blocks of a Markdown file; a line starting with '#' inside a fence is code, not a heading.</summary>
public static class MarkdownBlocks
{
    public static IReadOnlyList<FencedBlock> Read(string root, string relativePath)
    {
        var lines = File.ReadAllLines(Path.Combine(root, relativePath));
        var blocks = new List<FencedBlock>();
        var heading = string.Empty;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith('#'))
            {
                heading = line.Trim();
                continue;
            }

            if (!line.StartsWith("```", StringComparison.Ordinal))
            {
                continue;
            }

            var fence = line[..(line.Length - line.TrimStart('`').Length)];
            var language = line[fence.Length..].Trim();
            var start = i + 1;
            var end = start;
            while (end < lines.Length && !lines[end].StartsWith(fence, StringComparison.Ordinal))
            {
                end++;
            }

            if (end == lines.Length)
            {
                throw new InvalidOperationException($"{relativePath}:{i + 1}: a code fence that is never closed");
            }

            blocks.Add(new FencedBlock(relativePath, heading, language, i + 1, lines[start..end]));
            i = end;
        }

        return blocks;
    }

    /// <summary>README.md and every config/*/README.md, the files whose commands a user runs.</summary>
    public static IReadOnlyList<string> DocumentedFiles(string root) =>
    [
        "README.md",
        .. Directory.GetDirectories(Path.Combine(root, "config"))
            .Select(d => Path.Combine(d, "README.md"))
            .Where(File.Exists)
            .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/'))
            .Order(StringComparer.Ordinal),
    ];

    /// <summary>Every block of the documented files that may hold a command.</summary>
    public static IReadOnlyList<FencedBlock> CommandBlocks(string root) =>
        [.. DocumentedFiles(root).SelectMany(f => Read(root, f)).Where(b => b.MayHoldCommands)];

    /// <summary>The one block of <paramref name="file"/> under <paramref name="heading"/> written in <paramref name="language"/> (a JSON example, say).</summary>
    public static FencedBlock Example(string root, string file, string heading, string language, string firstLineStart) =>
        Read(root, file).Single(b => b.Heading == heading && b.Language == language && b.Lines[0].TrimStart().StartsWith(firstLineStart, StringComparison.Ordinal));
}
