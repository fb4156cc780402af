using System.Text.Json.Nodes;
using Tollgate.Core.Serialization;
using Tollgate.Operator.Crds;

namespace Tollgate.Operator.Tests.Crds;

public sealed class CrdDriftTests
{
    private static readonly string Regenerate =
        $"crds/ is out of date with the C# API types in core/Api/V1Alpha1. Regenerate it from the repository root with:\n    {CrdGenerator.RegenerateCommand}\n";

    [Fact]
    public void Crds_folder_equals_the_generator_output_byte_for_byte()
    {
        var expected = CrdGenerator.Render();
        var actual = Directory.EnumerateFiles(CrdFiles.Directory).ToDictionary(f => Path.GetFileName(f), File.ReadAllText, StringComparer.Ordinal);

        Assert.True(expected.Keys.Order(StringComparer.Ordinal).SequenceEqual(actual.Keys.Order(StringComparer.Ordinal), StringComparer.Ordinal),
            $"{Regenerate}expected files: {string.Join(", ", expected.Keys)}; found: {string.Join(", ", actual.Keys)}");
        foreach (var (name, text) in expected)
        {
            Assert.True(text == actual[name], $"{Regenerate}crds/{name} differs, first at line {FirstDifferentLine(text, actual[name])}");
        }
    }

    [Fact]
    public void Rendered_yaml_reads_back_as_the_generated_crds()
    {
        // The YAML writer quotes by its own rules; parsing its output must give back exactly the tree it was given.
        var rendered = CrdGenerator.Render();
        foreach (var entity in CrdGenerator.Entities)
        {
            var written = YamlJsonConverter.Parse(rendered[CrdGenerator.FileName(entity)]);
            var document = Assert.Single(written);
            var expected = CrdGenerator.Build(entity);
            Assert.True(JsonNode.DeepEquals(expected, document.Root), $"{entity.Name}: the YAML reads back differently:\n{document.Root}");
        }
    }

    [Fact]
    public async Task Generate_crds_command_writes_the_folder()
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-crds-");
        try
        {
            using var output = new StringWriter();
            var exitCode = await OperatorProgram.RunAsync(["generate-crds", directory.FullName], output, TextWriter.Null, CancellationToken.None);

            Assert.Equal(0, exitCode);
            foreach (var (name, text) in CrdGenerator.Render())
            {
                Assert.Equal(text, File.ReadAllText(Path.Combine(directory.FullName, name)));
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static int FirstDifferentLine(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var line = 0;
        while (line < a.Length && line < b.Length && a[line] == b[line])
        {
            line++;
        }

        return line + 1;
    }
}
