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
        var kQuants = Single($"[Transformer(ModelFamily.Gpt2, {Dims}, WeightPrecision = WeightPrecision.Q4K)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "WeightPrecision = WeightPrecision.Q4K");
        Assert.Contains("Q4K is not supported by the Gpt2 family", kQuants.GetMessage());
        Assert.Contains("Int8 or Q4_0", kQuants.GetMessage());
        var encoder = Single($"[Transformer(ModelFamily.Bert, {Dims}, WeightPrecision = WeightPrecision.Q4K)] partial class M;",
            "STG0006", DiagnosticSeverity.Error, "WeightPrecision = WeightPrecision.Q4K");
        Assert.Contains("keep float32 weights", encoder.GetMessage());
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
        var kRows = Single("[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, ModelDim = 48, FeedForwardDim = 128, VocabSize = 96, MaxSequenceLength = 32, WeightPrecision = WeightPrecision.Q4K)] partial class M;",
            "STG0010", DiagnosticSeverity.Error, "WeightPrecision = WeightPrecision.Q4K");
        Assert.Contains("ModelDim (48) and FeedForwardDim (128) must be multiples of 32", kRows.GetMessage());
        var unknown = Single($"[Transformer(ModelFamily.Llama, {Dims}, WeightPrecision = (WeightPrecision)9)] partial class M;",
            "STG0010", DiagnosticSeverity.Error, "WeightPrecision = (WeightPrecision)9");
        Assert.Contains("Float32, BFloat16, Int8, Q4_0 or Q4K", unknown.GetMessage());
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

    // A small llama config.json as transformers writes it (indent 2, keys sorted).
    private const string LlamaConfig = """
        {
          "architectures": [
            "LlamaForCausalLM"
          ],
          "hidden_size": 64,
          "intermediate_size": 128,
          "max_position_embeddings": 32,
          "model_type": "llama",
          "num_attention_heads": 4,
          "num_hidden_layers": 2,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-05,
          "vocab_size": 96
        }
        """;

    private const string ConfigPath = "/src/app/models/tiny/config.json";

    /// <summary>The one diagnostic <paramref name="id"/> of a declaration by ConfigFile, asserted at its file, line and column (1-based).</summary>
    private static Diagnostic InFile(string declaration, string id, string json, string path, int line, int column, params (string Path, string Text)[] more)
    {
        var files = new[] { new GeneratorHarness.File(ConfigPath, json) }.Concat(more.Select(m => new GeneratorHarness.File(m.Path, m.Text))).ToArray<AdditionalText>();
        var run = GeneratorHarness.RunGenerator(files, "using SourceGenTransformer;\n" + declaration);
        Diagnostic d = Assert.Single(run.GeneratorDiagnostics, x => x.Id == id);
        FileLinePositionSpan at = d.Location.GetLineSpan();
        Assert.Equal((path, line, column), (at.Path, at.StartLinePosition.Line + 1, at.StartLinePosition.Character + 1));
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Equal(DiagnosticDescriptors.HelpBase + id + ".md", d.Descriptor.HelpLinkUri);
        Assert.Empty(run.Result.GeneratedSources);
        return d;
    }

    private const string ByConfig = "[Transformer(ConfigFile = \"models/tiny/config.json\")] partial class M;";

    [Fact]
    public void STG0013_config_file_not_in_additional_files()
    {
        var d = InFile("[Transformer(ConfigFile = \"models/other/config.json\")] partial class M;", "STG0013", LlamaConfig, "Model0.cs", 2, 14);
        Assert.Contains("'models/other/config.json' is not among the project's AdditionalFiles (one is named like it: '/src/app/models/tiny/config.json')", d.GetMessage());
        Assert.Contains("<AdditionalFiles Include=\"models/other/config.json\" />", d.GetMessage());
        // Whole segments: "iny/config.json" does not end "tiny/config.json".
        InFile("[Transformer(ConfigFile = \"iny/config.json\")] partial class M;", "STG0013", LlamaConfig, "Model0.cs", 2, 14);
    }

    [Fact]
    public void STG0014_config_file_is_not_valid_json()
    {
        var d = InFile(ByConfig, "STG0014", LlamaConfig.Replace("\"hidden_size\": 64,", "\"hidden_size\": 64,,"), ConfigPath, 5, 21);
        Assert.Contains("'/src/app/models/tiny/config.json' is not valid JSON", d.GetMessage());
    }

    [Fact]
    public void STG0015_config_key_missing_or_invalid()
    {
        var missing = InFile(ByConfig, "STG0015", LlamaConfig.Replace("  \"hidden_size\": 64,\n", ""), ConfigPath, 7, 3);
        Assert.Contains("the key \"hidden_size\" is missing", missing.GetMessage());
        var typed = InFile(ByConfig, "STG0015", LlamaConfig.Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 2.5"), ConfigPath, 10, 24);
        Assert.Contains("\"num_hidden_layers\" must be an integer of at least 1, but it is 2.5", typed.GetMessage());
        var split = InFile(ByConfig, "STG0015", LlamaConfig.Replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 6"), ConfigPath, 9, 26);
        Assert.Contains("\"num_attention_heads\": 6 does not divide \"hidden_size\" 64", split.GetMessage());
        var groups = InFile(ByConfig, "STG0015", LlamaConfig.Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"), ConfigPath, 11, 26);
        Assert.Contains("does not divide \"num_attention_heads\" 4", groups.GetMessage());
        var odd = InFile(ByConfig, "STG0015", LlamaConfig.Replace("\"hidden_size\": 64", "\"hidden_size\": 60").Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4"), ConfigPath, 9, 26);
        Assert.Contains("heads of 15 dimensions", odd.GetMessage());
        // A value that passes the file but not the engine is still located in the file: an EOS outside the vocabulary.
        var eos = InFile(ByConfig, "STG0010", LlamaConfig.Replace("\"vocab_size\": 96", "\"vocab_size\": 96, \"eos_token_id\": 96"), ConfigPath, 13, 37);
        Assert.Contains("EosToken = 96 is invalid", eos.GetMessage());
    }

    [Fact]
    public void STG0016_config_declares_an_architecture_the_generator_does_not_run()
    {
        var type = InFile(ByConfig, "STG0016", LlamaConfig.Replace("\"model_type\": \"llama\"", "\"model_type\": \"mixtral\""), ConfigPath, 8, 17);
        Assert.Contains("\"model_type\": \"mixtral\" is not an architecture this generator runs", type.GetMessage());
        var head = InFile(ByConfig, "STG0016", LlamaConfig.Replace("\"LlamaForCausalLM\"", "\"LlamaForSequenceClassification\""), ConfigPath, 3, 5);
        Assert.Contains("\"architectures\": \"LlamaForSequenceClassification\" is not a llama model this generator runs", head.GetMessage());
    }

    [Fact]
    public void STG0017_config_option_not_supported()
    {
        var d = InFile(ByConfig, "STG0017", LlamaConfig.Replace("\"rms_norm_eps\": 1e-05,", "\"rms_norm_eps\": 1e-05,\n  \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0},"), ConfigPath, 13, 33);
        Assert.Contains("\"rope_scaling\" of type \"yarn\" is not supported", d.GetMessage());
        var experts = InFile(ByConfig, "STG0017", LlamaConfig.Replace("\"vocab_size\": 96", "\"vocab_size\": 96, \"num_local_experts\": 8"), ConfigPath, 13, 42);
        Assert.Contains("\"num_local_experts\": 8 is not supported", experts.GetMessage());
        var act = InFile(ByConfig, "STG0017", LlamaConfig.Replace("\"hidden_size\": 64,", "\"hidden_act\": \"gelu\",\n  \"hidden_size\": 64,"), ConfigPath, 5, 17);
        Assert.Contains("\"hidden_act\": \"gelu\" is not supported", act.GetMessage());
    }

    [Fact]
    public void STG0018_property_decided_by_the_config()
    {
        var d = InFile("[Transformer(ConfigFile = \"models/tiny/config.json\", Heads = 8)] partial class M;", "STG0018", LlamaConfig, "Model0.cs", 2, 54);
        Assert.Contains("Heads cannot be set beside ConfigFile: 'models/tiny/config.json' decides it", d.GetMessage());
        var cap = InFile("[Transformer(ConfigFile = \"models/tiny/config.json\", MaxSequenceLength = 64)] partial class M;", "STG0010", LlamaConfig, "Model0.cs", 2, 54);
        Assert.Contains("trained for at most 32 positions", cap.GetMessage());
    }

    [Fact]
    public void STG0019_no_family_and_no_config_file()
    {
        var d = Single("[Transformer(Layers = 2)] partial class M;", "STG0019", DiagnosticSeverity.Error, "Transformer(Layers = 2)");
        Assert.Contains("'M' declares no model", d.GetMessage());
    }

    [Fact]
    public void STG0020_config_file_matches_several_additional_files()
    {
        var d = InFile("[Transformer(ConfigFile = \"config.json\")] partial class M;", "STG0020", LlamaConfig, "Model0.cs", 2, 14, ("/src/app/models/other/config.json", LlamaConfig));
        Assert.Contains("'config.json' matches 2 AdditionalFiles", d.GetMessage());
    }

    [Fact]
    public void STG0021_generation_setting_not_applied_is_a_warning_and_the_model_still_generates()
    {
        const string generation = "{\n  \"do_sample\": true,\n  \"repetition_penalty\": 1.1,\n  \"temperature\": 0.7\n}\n";
        var files = new AdditionalText[] { new GeneratorHarness.File(ConfigPath, LlamaConfig), new GeneratorHarness.File("/src/app/models/tiny/generation_config.json", generation) };
        var run = GeneratorHarness.RunGenerator(files, "using SourceGenTransformer;\n" + ByConfig);
        Diagnostic d = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal(("STG0021", DiagnosticSeverity.Warning), (d.Id, d.Severity));
        FileLinePositionSpan at = d.Location.GetLineSpan();
        Assert.Equal(("/src/app/models/tiny/generation_config.json", 3, 25), (at.Path, at.StartLinePosition.Line + 1, at.StartLinePosition.Character + 1));
        Assert.Contains("\"repetition_penalty\": 1.1 is not applied", d.GetMessage());
        Assert.Equal(2, run.Result.GeneratedSources.Length);
        // The sampling defaults: do_sample with temperature 0.7, and GenerationConfig's top_k 50 and top_p 1.0.
        string text = string.Join("\n", run.GeneratedTexts);
        Assert.True(text.Contains("    Temperature = 0.7f, TopK = 50, TopP = 1f, MaxNewTokens = 256,"), string.Join("\n", text.Split("\n").Where(l => l.Contains("DefaultGenerationOptions"))));
        Assert.Contains("options ??= DefaultGenerationOptions;", text);
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
