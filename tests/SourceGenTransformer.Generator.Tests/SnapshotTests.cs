using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

public class SnapshotTests
{
    [Theory]
    [InlineData("Stories15M", "Demo.Models.Stories15M")]
    [InlineData("NestedGpt2", "Demo.Models.TinyGpt2")]
    [InlineData("NumberTranslator", "Demo.Translation.NumberTranslator")]
    [InlineData("MiniBert", "Demo.Search.MiniBert")]
    public void Generated_sources_match_the_snapshots(string scenario, string model)
    {
        var run = GeneratorHarness.RunGenerator(Snapshot.ReadInput(scenario));
        Assert.Empty(run.GeneratorDiagnostics);
        // Two files per model: the public class, and its engine in a namespace of its own.
        Assert.Equal([model + ".Transformer.g.cs", model + ".Kernels.g.cs"], run.Result.GeneratedSources.Select(s => s.HintName));
        foreach (GeneratedSourceResult source in run.Result.GeneratedSources)
            Snapshot.Match(scenario, source.HintName, source.SourceText.ToString());
    }

    [Theory]
    [InlineData("Stories15M")]
    [InlineData("NestedGpt2")]
    [InlineData("NumberTranslator")]
    [InlineData("MiniBert")]
    public void Generated_lines_fit_in_160_characters(string scenario)
    {
        foreach (string text in GeneratorHarness.RunGenerator(Snapshot.ReadInput(scenario)).GeneratedTexts)
        {
            string[] lines = text.Split('\n');
            int longest = lines.Select((line, i) => (line.Length, i)).Max().i;
            Assert.True(lines[longest].Length <= 160, $"line {longest + 1} has {lines[longest].Length} characters: {lines[longest]}");
        }
    }

    [Fact]
    public void Snapshot_diff_points_at_the_first_difference()
    {
        string diff = Snapshot.Diff("a\nb\nc\nd", "a\nb\nX\nd");
        Assert.Contains("first difference at line 3", diff);
        Assert.Contains("-     3   c", diff);
        Assert.Contains("+     3   X", diff);
    }

    [Fact]
    public void Output_is_deterministic()
    {
        string input = Snapshot.ReadInput("Stories15M");
        Assert.Equal(GeneratorHarness.RunGenerator(input).GeneratedTexts, GeneratorHarness.RunGenerator(input).GeneratedTexts);
    }
}
