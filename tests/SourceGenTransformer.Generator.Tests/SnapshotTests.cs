using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

public class SnapshotTests
{
    [Theory]
    [InlineData("Stories15M", "Demo.Models.Stories15M.Transformer.g.cs")]
    [InlineData("NestedGpt2", "Demo.Models.TinyGpt2.Transformer.g.cs")]
    [InlineData("NumberTranslator", "Demo.Translation.NumberTranslator.Transformer.g.cs")]
    [InlineData("MiniBert", "Demo.Search.MiniBert.Transformer.g.cs")]
    public void Generated_source_matches_the_snapshot(string scenario, string hintName)
    {
        var run = GeneratorHarness.RunGenerator(Snapshot.ReadInput(scenario));
        Assert.Empty(run.GeneratorDiagnostics);
        GeneratedSourceResult source = Assert.Single(run.Result.GeneratedSources);
        Assert.Equal(hintName, source.HintName);
        Snapshot.Match(scenario, hintName, source.SourceText.ToString());
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
