using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using SourceGenTransformer.Generator.Helpers;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>
/// Declaring a model by its Hugging Face config.json: the engine equals the one the same numbers declare by hand;
/// the file is found by the end of its path; generation_config.json supplies the EOS list; edits cache as they should.
/// </summary>
public sealed class ConfigFileTests
{
    // SmolLM2-135M's config.json as transformers writes it (indent 2, sorted keys), with its real shapes.
    private const string SmolLM2 = """
        {
          "architectures": [
            "LlamaForCausalLM"
          ],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "eos_token_id": 0,
          "hidden_act": "silu",
          "hidden_size": 576,
          "initializer_range": 0.041666666666666664,
          "intermediate_size": 1536,
          "is_llama_config": true,
          "max_position_embeddings": 8192,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 9,
          "num_hidden_layers": 30,
          "num_key_value_heads": 3,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_interleaved": false,
          "rope_scaling": null,
          "rope_theta": 100000,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.42.3",
          "use_cache": true,
          "vocab_size": 49152
        }
        """;

    private const string SmolLM2ByHand = "[Transformer(ModelFamily.Llama, Layers = 30, Heads = 9, KvHeads = 3, ModelDim = 576, FeedForwardDim = 1536, "
        + "VocabSize = 49152, MaxSequenceLength = 4096, RopeTheta = 100000f, NormEpsilon = 1e-5f, TiedEmbeddings = true, BosToken = 0, EosToken = 0)]";

    private const string Gpt2 = """
        {
          "activation_function": "gelu_new",
          "architectures": ["GPT2LMHeadModel"],
          "bos_token_id": 50256,
          "eos_token_id": 50256,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": 1024,
          "n_embd": 64,
          "n_head": 4,
          "n_inner": null,
          "n_layer": 2,
          "n_positions": 128,
          "vocab_size": 50257
        }
        """;

    private const string Bert = """
        {
          "architectures": ["BertModel"],
          "hidden_act": "gelu",
          "hidden_size": 384,
          "intermediate_size": 1536,
          "layer_norm_eps": 1e-12,
          "max_position_embeddings": 512,
          "model_type": "bert",
          "num_attention_heads": 12,
          "num_hidden_layers": 6,
          "pad_token_id": 0,
          "position_embedding_type": "absolute",
          "type_vocab_size": 2,
          "vocab_size": 30522
        }
        """;

    private static GeneratorHarness.Run Run(string declaration, params (string Path, string Text)[] files) =>
        GeneratorHarness.RunGenerator(files.Select(f => (AdditionalText)new GeneratorHarness.File(f.Path, f.Text)).ToArray(),
            "using SourceGenTransformer;\nnamespace Demo;\n" + declaration + "\npublic partial class M;");

    private static void SameEngine(string byConfig, string byHand, params (string Path, string Text)[] files)
    {
        GeneratorHarness.Run config = Run(byConfig, files), hand = Run(byHand);
        Assert.Empty(config.GeneratorDiagnostics);
        Assert.Empty(hand.GeneratorDiagnostics);
        Assert.Equal(2, config.Result.GeneratedSources.Length);
        Assert.Equal(hand.GeneratedTexts, config.GeneratedTexts);
        Assert.Empty(config.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void A_llama_config_declares_the_engine_its_numbers_declare_by_hand()
    {
        // max_position_embeddings 8192 is capped at 4096 by default.
        SameEngine("[Transformer(ConfigFile = \"smollm2/config.json\")]", SmolLM2ByHand, ("/repo/models/smollm2/config.json", SmolLM2));
        SameEngine("[Transformer(ConfigFile = \"smollm2/config.json\", MaxSequenceLength = 512, WeightPrecision = WeightPrecision.BFloat16)]",
            SmolLM2ByHand.Replace("MaxSequenceLength = 4096", "MaxSequenceLength = 512, WeightPrecision = WeightPrecision.BFloat16"),
            ("/repo/models/smollm2/config.json", SmolLM2));
    }

    [Fact]
    public void Gpt2_and_bert_configs_declare_their_families()
    {
        SameEngine("[Transformer(ConfigFile = \"gpt2/config.json\")]",
            "[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 256, VocabSize = 50257, MaxSequenceLength = 128, BosToken = 50256, EosToken = 50256)]",
            ("/repo/gpt2/config.json", Gpt2));
        SameEngine("[Transformer(ConfigFile = \"minilm/config.json\", Pooling = EmbeddingPooling.Cls)]",
            "[Transformer(ModelFamily.Bert, Layers = 6, Heads = 12, ModelDim = 384, FeedForwardDim = 1536, VocabSize = 30522, MaxSequenceLength = 512, Pooling = EmbeddingPooling.Cls)]",
            ("/repo/minilm/config.json", Bert));
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData("models/smollm2/config.json")]
    [InlineData("./models/smollm2/config.json")]
    [InlineData("models\\\\smollm2\\\\config.json")]
    [InlineData("MODELS/SmolLM2/config.json")]
    public void The_file_is_the_one_whose_path_ends_with_it(string configFile)
    {
        SameEngine($"[Transformer(ConfigFile = \"{configFile}\")]", SmolLM2ByHand, ("C:\\src\\app\\models\\smollm2\\config.json", SmolLM2), ("C:\\src\\app\\notes.txt.json", "not json"),
            // The same file again, as the package's props and a hand-written AdditionalFiles item both list it.
            ("C:/src/app/models/smollm2/config.json", SmolLM2));
    }

    [Fact]
    public void Generation_config_beside_it_supplies_bos_and_the_eos_list()
    {
        const string generation = """
            {
              "bos_token_id": 1,
              "eos_token_id": [2, 7],
              "transformers_version": "4.42.3"
            }
            """;
        GeneratorHarness.Run run = Run("[Transformer(ConfigFile = \"smollm2/config.json\")]",
            ("/repo/smollm2/config.json", SmolLM2), ("/repo/smollm2/generation_config.json", generation), ("/repo/other/generation_config.json", "{\"eos_token_id\": 9}"));
        Assert.Empty(run.GeneratorDiagnostics);
        string text = run.GeneratedTexts[0];
        Assert.Contains("public const int BosToken = 1;", text);
        Assert.Contains("public const int EosToken = 2;", text);
        Assert.Contains("public static global::System.ReadOnlySpan<int> EosTokens => new int[] { 2, 7 };", text);
        Assert.Contains("TokenSampler(VocabSize, options, EosTokens)", text);

        // A problem in it is located in it.
        GeneratorHarness.Run bad = Run("[Transformer(ConfigFile = \"smollm2/config.json\")]",
            ("/repo/smollm2/config.json", SmolLM2), ("/repo/smollm2/generation_config.json", generation.Replace("[2, 7]", "[2, \"7\"]")));
        Diagnostic d = Assert.Single(bad.GeneratorDiagnostics);
        Assert.Equal("STG0015", d.Id);
        FileLinePositionSpan at = d.Location.GetLineSpan();
        Assert.Equal(("/repo/smollm2/generation_config.json", 3, 23), (at.Path, at.StartLinePosition.Line + 1, at.StartLinePosition.Character + 1));
    }

    [Fact]
    public void An_eos_list_in_config_json_is_every_stop_token()
    {
        GeneratorHarness.Run run = Run("[Transformer(ConfigFile = \"config.json\")]",
            ("/repo/config.json", SmolLM2.Replace("\"eos_token_id\": 0", "\"eos_token_id\": [128001, 128008, 128009]").Replace("\"vocab_size\": 49152", "\"vocab_size\": 128256")));
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Contains("EosTokens => new int[] { 128001, 128008, 128009 };", run.GeneratedTexts[0]);
        Assert.Contains("public const int EosToken = 128001;", run.GeneratedTexts[0]);
    }

    private static System.Collections.Generic.IEnumerable<IncrementalStepRunReason> Reasons(GeneratorRunResult result, string step) =>
        result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason);

    private static System.Collections.Generic.IEnumerable<IncrementalStepRunReason> OutputReasons(GeneratorRunResult result) =>
        result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).Select(o => o.Reason);

    [Fact]
    public void Unrelated_edits_stay_cached_and_an_edit_of_the_config_regenerates()
    {
        var config = new GeneratorHarness.File("/repo/smollm2/config.json", SmolLM2);
        var other = new GeneratorHarness.File("/repo/appsettings.json", "{}");
        CSharpCompilation compilation = GeneratorHarness.Compilation("using SourceGenTransformer;\n[Transformer(ConfigFile = \"smollm2/config.json\")]\npublic partial class M;");
        GeneratorDriver driver = GeneratorHarness.Driver(null, config, other);
        GeneratorHarness.Run first = GeneratorHarness.RunGenerator(compilation, driver);
        Assert.Empty(first.GeneratorDiagnostics);
        IncrementalStepRunReason[] unchanged = [IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged];

        // An unrelated C# file.
        CSharpCompilation edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Unrelated { }", GeneratorHarness.ParseOptions));
        GeneratorHarness.Run second = GeneratorHarness.RunGenerator(edited, first.Driver);
        Assert.All(Reasons(second.Result, TrackingNames.Build), r => Assert.Contains(r, unchanged));
        Assert.All(OutputReasons(second.Result), r => Assert.Contains(r, unchanged));

        // An unrelated JSON file: the files change, the spec does not.
        GeneratorDriver otherEdited = second.Driver.ReplaceAdditionalText(other, new GeneratorHarness.File(other.Path, "{\"Logging\": {}}"));
        GeneratorHarness.Run third = GeneratorHarness.RunGenerator(edited, otherEdited);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(third.Result, TrackingNames.ConfigFiles));
        Assert.All(Reasons(third.Result, TrackingNames.Spec), r => Assert.Contains(r, unchanged));
        Assert.All(OutputReasons(third.Result), r => Assert.Contains(r, unchanged));
        Assert.Equal(first.GeneratedTexts, third.GeneratedTexts);

        // The config.json itself.
        GeneratorDriver configEdited = third.Driver.ReplaceAdditionalText(config, new GeneratorHarness.File(config.Path, SmolLM2.Replace("\"num_hidden_layers\": 30", "\"num_hidden_layers\": 2")));
        GeneratorHarness.Run fourth = GeneratorHarness.RunGenerator(edited, configEdited);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(fourth.Result, TrackingNames.Spec));
        Assert.Contains("public const int Layers = 2;", fourth.GeneratedTexts[0]);
    }
}
