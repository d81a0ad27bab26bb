using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>One test per diagnostic ID: its ID, its severity, and the source text it points at.</summary>
public class DiagnosticTests
{
    private const string Dims = "Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, VocabSize = 96, MaxSequenceLength = 32";
    private const string Seq2SeqDims = "EncoderLayers = 2, DecoderLayers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, SourceVocabSize = 20, TargetVocabSize = 30, MaxSequenceLength = 32";

    private static string DocsDirectory([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "") =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(thisFile)!, "..", "..", "docs");

    private static Diagnostic Single(string source, string id, DiagnosticSeverity severity, string locatedText)
    {
        string text = "using SourceGenTransformer;\n" + source;
        var run = GeneratorHarness.RunGenerator(text);
        Diagnostic d = Assert.Single(run.GeneratorDiagnostics, x => x.Id == id);
        Assert.Equal(severity, d.Severity);
        // Locations are rebuilt from cached plain data (file, span, lines), so they point into the file by path.
        Assert.Equal("Model0.cs", d.Location.GetLineSpan().Path);
        Assert.Equal(locatedText, text.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        // An absolute link to the diagnostic's page, which exists in the repository.
        Assert.Equal(DiagnosticDescriptors.HelpBase + id + ".md", d.Descriptor.HelpLinkUri);
        Assert.StartsWith("https://", d.Descriptor.HelpLinkUri);
        Assert.True(System.IO.File.Exists(System.IO.Path.Combine(DocsDirectory(), "diagnostics", id + ".md")), $"no page for {id}");
        if (severity == DiagnosticSeverity.Error)
            Assert.Empty(run.Result.GeneratedSources); // a model with an error emits nothing else
        return d;
    }

    [Fact]
    public void STG0001_class_not_partial()
    {
        var d = Single($"[Transformer(ModelFamily.Llama, {Dims})] public class Plain;", "STG0001", DiagnosticSeverity.Error, "Plain");
        Assert.Contains("'Plain' must be declared partial", d.GetMessage());
        Single($"public class Outer {{ [Transformer(ModelFamily.Llama, {Dims})] public partial class Inner; }}", "STG0001", DiagnosticSeverity.Error, "Outer");
    }

    [Fact]
    public void STG0002_dimension_missing_or_not_positive()
    {
        var d = Single("[Transformer(ModelFamily.Llama, Layers = 2, Heads = 0, ModelDim = 64, FeedForwardDim = 128, VocabSize = 96, MaxSequenceLength = 32)] partial class M;",
            "STG0002", DiagnosticSeverity.Error, "Heads = 0");
        Assert.Contains("Heads is 0", d.GetMessage());
        var decoder = Single($"[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, SourceVocabSize = 20, TargetVocabSize = 30, MaxSequenceLength = 32)] partial class M;",
            "STG0002", DiagnosticSeverity.Error, "Transformer(ModelFamily.Seq2Seq, EncoderLayers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, SourceVocabSize = 20, TargetVocabSize = 30, MaxSequenceLength = 32)");
        Assert.Contains("DecoderLayers is not set; the Seq2Seq family needs it", decoder.GetMessage());
        var missing = Single("[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, MaxSequenceLength = 32)] partial class M;",
            "STG0002", DiagnosticSeverity.Error, "Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 128, MaxSequenceLength = 32)");
        Assert.Contains("VocabSize is not set", missing.GetMessage());
    }

    [Fact]
    public void STG0003_model_dim_not_divisible_by_heads()
    {
        var d = Single("[Transformer(ModelFamily.Llama, Layers = 2, Heads = 7, ModelDim = 64, FeedForwardDim = 128, VocabSize = 96, MaxSequenceLength = 32)] partial class M;",
            "STG0003", DiagnosticSeverity.Error, "Heads = 7");
        Assert.Contains("ModelDim 64 is not divisible by Heads 7", d.GetMessage());
    }

    [Fact]
    public void STG0004_heads_not_divisible_by_kv_heads()
    {
        var d = Single($"[Transformer(ModelFamily.Llama, {Dims}, KvHeads = 3)] partial class M;", "STG0004", DiagnosticSeverity.Error, "KvHeads = 3");
        Assert.Contains("Heads 4 is not divisible by KvHeads 3", d.GetMessage());
    }

    [Fact]
    public void STG0005_rotary_with_odd_head_dimension()
    {
        var d = Single("[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, ModelDim = 30, FeedForwardDim = 64, VocabSize = 10, MaxSequenceLength = 8)] partial class M;",
            "STG0005", DiagnosticSeverity.Error, "Heads = 2");
        Assert.Contains("30 / 2 = 15 is odd", d.GetMessage());
    }

    [Fact]
    public void STG0006_option_the_family_cannot_express()
    {
        var d = Single($"[Transformer(ModelFamily.Gpt2, {Dims}, Activation = Activation.SwiGlu)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "Activation = Activation.SwiGlu");
        Assert.Contains("SwiGlu is not supported by the Gpt2 family", d.GetMessage());
        Single($"[Transformer(ModelFamily.Llama, {Dims}, Positional = PositionalEncoding.Learned)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "Positional = PositionalEncoding.Learned");
        Single($"[Transformer(ModelFamily.Seq2Seq, {Seq2SeqDims}, Positional = PositionalEncoding.Rotary)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "Positional = PositionalEncoding.Rotary");
        Single($"[Transformer(ModelFamily.Seq2Seq, {Seq2SeqDims}, Activation = Activation.SwiGlu)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "Activation = Activation.SwiGlu");
        var bert = Single($"[Transformer(ModelFamily.Bert, {Dims}, NormFirst = true)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "NormFirst = true");
        Assert.Contains("post-norm", bert.GetMessage());
        var grouped = Single($"[Transformer(ModelFamily.Bert, {Dims}, KvHeads = 2)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "KvHeads = 2");
        Assert.Contains("as many key/value heads as query heads", grouped.GetMessage());
    }

    [Fact]
    public void STG0007_sizes_overflow_32_bit_indexing()
    {
        var d = Single("[Transformer(ModelFamily.Llama, Layers = 1, Heads = 16, ModelDim = 2048, FeedForwardDim = 64, VocabSize = 2000000, MaxSequenceLength = 8)] partial class M;",
            "STG0007", DiagnosticSeverity.Error,
            "Transformer(ModelFamily.Llama, Layers = 1, Heads = 16, ModelDim = 2048, FeedForwardDim = 64, VocabSize = 2000000, MaxSequenceLength = 8)");
        Assert.Contains("token embedding (vocabulary x ModelDim) has 4096000000 elements", d.GetMessage());
    }

    [Fact]
    public void STG0008_family_not_supported()
    {
        var d = Single($"[Transformer((ModelFamily)9, {Dims})] partial class M;", "STG0008", DiagnosticSeverity.Error, "(ModelFamily)9");
        Assert.Contains("(ModelFamily)9 is not a model family this generator knows", d.GetMessage());
    }

    [Fact]
    public void STG0009_property_ignored_is_a_warning_and_the_model_still_generates()
    {
        Single($"[Transformer(ModelFamily.Llama, {Dims}, EncoderLayers = 2)] partial class M;", "STG0009", DiagnosticSeverity.Warning, "EncoderLayers = 2");
        Single($"[Transformer(ModelFamily.Seq2Seq, {Seq2SeqDims}, VocabSize = 10)] partial class M;", "STG0009", DiagnosticSeverity.Warning, "VocabSize = 10");
        var run = GeneratorHarness.RunGenerator($"using SourceGenTransformer;\n[Transformer(ModelFamily.Llama, {Dims}, EncoderLayers = 2)] partial class M;");
        Assert.Equal(2, run.Result.GeneratedSources.Length); // the public class and its engine
    }

    [Fact]
    public void STG0010_invalid_value()
    {
        var eps = Single($"[Transformer(ModelFamily.Llama, {Dims}, NormEpsilon = 0f)] partial class M;", "STG0010", DiagnosticSeverity.Error, "NormEpsilon = 0f");
        Assert.Contains("NormEpsilon = 0 is invalid", eps.GetMessage());
        var eos = Single($"[Transformer(ModelFamily.Llama, {Dims}, EosToken = 500)] partial class M;", "STG0010", DiagnosticSeverity.Error, "EosToken = 500");
        Assert.Contains("[0, VocabSize = 96)", eos.GetMessage());
        var bos = Single($"[Transformer(ModelFamily.Seq2Seq, {Seq2SeqDims}, BosToken = -1)] partial class M;", "STG0010", DiagnosticSeverity.Error, "BosToken = -1");
        Assert.Contains("both must be set", bos.GetMessage());
        var target = Single($"[Transformer(ModelFamily.Seq2Seq, {Seq2SeqDims}, EosToken = 30)] partial class M;", "STG0010", DiagnosticSeverity.Error, "EosToken = 30");
        Assert.Contains("[0, TargetVocabSize = 30)", target.GetMessage());
    }

    [Fact]
    public void STG0011_unsupported_declaration()
    {
        var d = Single($"[Transformer(ModelFamily.Llama, {Dims})] partial class Generic<T>;", "STG0011", DiagnosticSeverity.Error, "Generic");
        Assert.Contains("it is generic", d.GetMessage());
    }

    [Fact]
    public void STG0012_language_version_too_low()
    {
        string text = $"using SourceGenTransformer;\n[Transformer(ModelFamily.Llama, {Dims})] partial class M {{ }}";
        var compilation = GeneratorHarness.Compilation(new Microsoft.CodeAnalysis.CSharp.CSharpParseOptions(Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp9), text);
        var run = GeneratorHarness.RunGenerator(compilation);
        Diagnostic d = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("STG0012", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.StartsWith("Transformer(ModelFamily.Llama", text.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
        Assert.Contains("needs C# 10.0 or later, but this project compiles with C# 9.0", d.GetMessage());
        Assert.Empty(run.Result.GeneratedSources);
    }

    [Fact]
    public void Every_descriptor_has_a_test_and_a_help_page()
    {
        var ids = typeof(DiagnosticDescriptors).GetFields().Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id).OrderBy(x => x).ToArray();
        var tested = typeof(DiagnosticTests).GetMethods().Select(m => m.Name).Where(n => n.StartsWith("STG")).Select(n => n[..7]).OrderBy(x => x).ToArray();
        Assert.Equal(ids, tested);
        string docs = System.IO.Path.Combine(Snapshot.Directory(), "..", "..", "..", "docs", "diagnostics");
        foreach (string id in ids)
            Assert.True(System.IO.File.Exists(System.IO.Path.Combine(docs, id + ".md")), $"docs/diagnostics/{id}.md is missing");
    }
}
