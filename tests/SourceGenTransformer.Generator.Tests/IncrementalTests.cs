using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>The pipeline caches: unrelated edits regenerate nothing; a shape change regenerates.</summary>
public class IncrementalTests
{
    private const string Model = """
        using SourceGenTransformer;
        namespace Inc;
        [Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, VocabSize = 96, MaxSequenceLength = 32)]
        public partial class M;
        """;

    private static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorRunResult result, string step) =>
        result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason);

    [Fact]
    public void Same_compilation_twice_is_cached()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation(Model);
        var first = GeneratorHarness.RunGenerator(compilation);
        var second = GeneratorHarness.RunGenerator(compilation, first.Driver);
        Assert.All(Reasons(second.Result, TrackingNames.Spec), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.All(second.Result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Unrelated_edit_leaves_outputs_cached_and_text_identical()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation(Model);
        var first = GeneratorHarness.RunGenerator(compilation);
        CSharpCompilation edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Inc; class Unrelated { int X => 1; }", GeneratorHarness.ParseOptions));
        var second = GeneratorHarness.RunGenerator(edited, first.Driver);

        Assert.All(Reasons(second.Result, TrackingNames.Spec), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(second.Result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.Contains(o.Reason, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.Equal(first.GeneratedTexts, second.GeneratedTexts);
    }

    [Fact]
    public void Edit_inside_the_model_file_that_keeps_the_shape_is_unchanged()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation(Model);
        var first = GeneratorHarness.RunGenerator(compilation);
        SyntaxTree old = compilation.SyntaxTrees.Single();
        CSharpCompilation edited = compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(Model + "\n// a comment\n", GeneratorHarness.ParseOptions, path: old.FilePath));
        var second = GeneratorHarness.RunGenerator(edited, first.Driver);
        Assert.All(Reasons(second.Result, TrackingNames.Spec), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
    }

    [Fact]
    public void Dimension_change_regenerates()
    {
        CSharpCompilation compilation = GeneratorHarness.Compilation(Model);
        var first = GeneratorHarness.RunGenerator(compilation);
        SyntaxTree old = compilation.SyntaxTrees.Single();
        CSharpCompilation edited = compilation.ReplaceSyntaxTree(old,
            CSharpSyntaxTree.ParseText(Model.Replace("ModelDim = 64", "ModelDim = 128"), GeneratorHarness.ParseOptions, path: old.FilePath));
        var second = GeneratorHarness.RunGenerator(edited, first.Driver);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(second.Result, TrackingNames.Spec));
        Assert.NotEqual(first.GeneratedTexts, second.GeneratedTexts);
        Assert.All(second.GeneratedTexts, text => Assert.Contains("public const int ModelDim = 128;", text));
    }

    [Fact]
    public void Spec_types_hold_no_symbols_syntax_or_compilations()
    {
        // The cache key must be plain, value-equal data (see the remarks on ModelSpec).
        var allowed = new HashSet<Type> { typeof(string), typeof(int), typeof(long), typeof(float), typeof(bool), typeof(EquatableArray<string>), typeof(EquatableArray<int>) };
        var pending = new Queue<Type>([typeof(ModelSpec)]);
        var seen = new HashSet<Type>();
        while (pending.Count > 0)
        {
            Type type = pending.Dequeue();
            if (!seen.Add(type)) continue;
            foreach (var property in type.GetProperties())
            {
                Type t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                if (t.IsEnum || allowed.Contains(t)) continue;
                if (t == typeof(ModelShape)) { pending.Enqueue(t); continue; }
                if (property.Name == "EqualityContract") continue;
                Assert.Fail($"{type.Name}.{property.Name} is a {t.Name}, which is not allowed in a spec.");
            }
        }
    }
}
