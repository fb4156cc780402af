using Tollgate.Docs.Tests.Catalog;
using Tollgate.Docs.Tests.Markdown;
using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>Every shell block of the READMEs is in <see cref="DocsCatalog"/>, and every entry there still exists.</summary>
public sealed class CatalogTests
{
    [Fact]
    public void Every_shell_block_of_the_readmes_is_classified_run_or_skipped()
    {
        var known = DocsCatalog.Blocks.ToDictionary(b => b.Identity, StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var block in MarkdownBlocks.CommandBlocks(Repo.Root))
        {
            var identity = $"{block.File} | {block.Heading} | {block.FirstLine}";
            if (!known.TryGetValue(identity, out var entry))
            {
                problems.Add($"{block}: not classified. Add it to DocsCatalog.Blocks in tests/Docs.Tests/Catalog/DocsCatalog.cs: each command as Run "
                    + "(with the test that runs it and asserts what the README shows) or Skip (why it cannot run here, and the offline equivalent that runs instead), "
                    + "or the block as Output of the command that prints it.");
                continue;
            }

            // A prompt block or a shell-language block is compared command by command; an unlabelled block that is not a
            // prompt block (a usage synopsis, printed output) by its first line, the rest being what its test asserts.
            var documented = block.Language.Length > 0 || block.Lines.Any(l => l.StartsWith("$ ", StringComparison.Ordinal)) ? block.Commands : [block.FirstLine];
            var classified = entry.IsOutput ? [entry.FirstLine] : entry.Commands.Select(c => c.Command).ToList();
            if (!documented.SequenceEqual(classified, StringComparer.Ordinal))
            {
                problems.Add($"{block}: its commands changed. README now: [{string.Join(" ⏎ ", documented)}]; classified: [{string.Join(" ⏎ ", classified)}]. "
                    + "Classify the changed commands in DocsCatalog.Blocks (Run or Skip) and make their tests run what the README now shows.");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Every_classified_block_is_still_in_a_readme()
    {
        var present = MarkdownBlocks.CommandBlocks(Repo.Root).Select(b => $"{b.File} | {b.Heading} | {b.FirstLine}").ToHashSet(StringComparer.Ordinal);
        var stale = DocsCatalog.Blocks.Where(b => !present.Contains(b.Identity)).Select(b => b.Identity).ToList();
        Assert.True(stale.Count == 0, "Classified blocks no README has any more (remove or update them in DocsCatalog.Blocks):\n" + string.Join("\n", stale));
    }

    [Fact]
    public void Every_skip_names_a_reason_and_an_equivalent_that_runs()
    {
        var tests = typeof(CatalogTests).Assembly.GetTypes().SelectMany(t => t.GetMethods())
            .Where(m => m.GetCustomAttributes(typeof(FactAttribute), inherit: true).Length > 0)
            .Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var block in DocsCatalog.Blocks)
        {
            foreach (var verdict in block.Commands)
            {
                var test = verdict switch { RunVerdict r => r.Test, SkipVerdict s => s.Test, _ => string.Empty };
                Assert.Contains(test, tests);
                if (verdict is SkipVerdict skip)
                {
                    Assert.False(string.IsNullOrWhiteSpace(skip.Reason), $"{block.Identity}: {skip.Command} has no reason");
                    Assert.False(string.IsNullOrWhiteSpace(skip.Equivalent), $"{block.Identity}: {skip.Command} has no equivalent");
                }
            }

            Assert.True(block.IsOutput != (block.Commands.Count > 0), $"{block.Identity}: a block holds commands or is output, not both or neither");
            if (block.OutputTest is { } outputTest)
            {
                Assert.Contains(outputTest, tests);
            }
        }
    }

    [Fact]
    public void Extraction_sees_code_fences_not_comments_as_headings()
    {
        var blocks = MarkdownBlocks.CommandBlocks(Repo.Root);

        // "# Run every test …" inside the first block is a shell comment, not a heading: the block stays under "# Tollgate".
        var first = Assert.Single(blocks, b => b.FirstLine == "dotnet run --project meter -- --policy config/samples");
        Assert.Equal("# Tollgate", first.Heading);
        Assert.Equal(["dotnet run --project meter -- --policy config/samples", "./test.sh"], first.Commands);
        Assert.DoesNotContain(blocks, b => b.Language is "json" or "yaml" or "python" or "promql");
    }

    [Fact]
    public void Test_script_runs_this_project_through_the_solution()
    {
        // ./test.sh is skipped (it runs this project); what makes it run these tests is checked instead.
        var solution = File.ReadAllText(Path.Combine(Repo.Root, "Operator.sln"));
        Assert.Contains(@"""tests\Docs.Tests\Docs.Tests.csproj""", solution, StringComparison.Ordinal);
        var script = File.ReadAllLines(Path.Combine(Repo.Root, "test.sh"));
        Assert.Contains(script, l => l.Contains("dotnet build Operator.sln -c Release", StringComparison.Ordinal));
        Assert.Contains(script, l => l.TrimStart().StartsWith("dotnet test Operator.sln -c Release --no-build", StringComparison.Ordinal));
        Assert.Contains(script, l => l.Trim() == "echo \"$passed passed, $failed failed\"");
    }

    [Fact]
    public void Test_script_publishes_the_native_meter_and_runs_the_process_tests_against_it()
    {
        // The README's native publish takes minutes on 2 cores; test.sh runs that exact command once, then the
        // MeterProcess tests against the binary it wrote, so the documented command is what the tests prove.
        var script = File.ReadAllLines(Path.Combine(Repo.Root, "test.sh"));
        Assert.Contains(script, l => l.Contains("dotnet publish meter -c Release -r linux-x64 -p:PublishAot=true -o \"$native\"", StringComparison.Ordinal));
        Assert.Contains(script, l => l.TrimStart().StartsWith("TOLLGATE_METER_BINARY=\"$PWD/$native/Tollgate.Meter\" dotnet test tests/Meter.Tests", StringComparison.Ordinal));
        Assert.Contains(script, l => l.Contains("--filter \"MeterProcess=true\"", StringComparison.Ordinal));
        Assert.Contains(script, l => l.Contains("need_apt+=(clang)", StringComparison.Ordinal));
    }
}
