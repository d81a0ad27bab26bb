using System.Linq;
using Microsoft.CodeAnalysis.Text;
using SourceGenTransformer.Generator.Config;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>Reading a Hugging Face config.json into the properties it decides, and its problems at line and column.</summary>
public sealed class HfConfigTests
{
    // SmolLM2-135M's config.json keys, as transformers writes them (indent 2).
    private const string SmolLM2 = """
        {
          "architectures": [
            "LlamaForCausalLM"
          ],
          "attention_bias": false,
          "bos_token_id": 0,
          "eos_token_id": 0,
          "hidden_act": "silu",
          "hidden_size": 576,
          "intermediate_size": 1536,
          "max_position_embeddings": 8192,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 9,
          "num_hidden_layers": 30,
          "num_key_value_heads": 3,
          "rms_norm_eps": 1e-05,
          "rope_scaling": null,
          "rope_theta": 100000,
          "tie_word_embeddings": true,
          "vocab_size": 49152
        }
        """;

    private static (int Line, int Column) At(string text, TextSpan span)
    {
        LinePosition p = SourceText.From(text).Lines.GetLinePosition(span.Start);
        return (p.Line + 1, p.Character + 1);
    }

    [Fact]
    public void A_llama_config_decides_the_family_and_every_dimension()
    {
        var (settings, problems) = HfConfig.Read(JsonReader.Parse(SmolLM2));
        Assert.Empty(problems);
        var byName = settings.ToDictionary(s => s.Property, s => s.Value);
        Assert.Equal(1, byName["Family"]);
        Assert.Equal(30, byName["Layers"]);
        Assert.Equal(9, byName["Heads"]);
        Assert.Equal(3, byName["KvHeads"]);
        Assert.Equal(576, byName["ModelDim"]);
        Assert.Equal(1536, byName["FeedForwardDim"]);
        Assert.Equal(49152, byName["VocabSize"]);
        Assert.Equal(8192, byName["MaxSequenceLength"]);
        Assert.Equal(100000f, byName["RopeTheta"]);
        Assert.Equal(1e-5f, byName["NormEpsilon"]);
        Assert.Equal(true, byName["TiedEmbeddings"]);
        Assert.Equal((15, 24), At(SmolLM2, settings.Single(s => s.Property == "Layers").Span));
    }

    [Theory]
    [InlineData("\"model_type\": \"llama\"", "\"model_type\": \"mixtral\"", 13, 17, "\"mixtral\" is not an architecture")]
    [InlineData("\"num_hidden_layers\": 30", "\"num_hidden_layers\": \"30\"", 15, 24, "\"num_hidden_layers\" must be an integer")]
    [InlineData("\"num_hidden_layers\": 30,", "", 13, 3, "\"num_hidden_layers\" is missing")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", 18, 33, "\"rope_scaling\" of type \"yarn\"")]
    [InlineData("\"attention_bias\": false", "\"attention_bias\": \"yes\"", 5, 21, "\"attention_bias\" must be true or false")]
    [InlineData("\"mlp_bias\": false,", "\"mlp_bias\": false, \"layer_types\": [\"full_attention\", \"sliding_attention\"],", 12, 56, "\"layer_types\" mixes \"full_attention\" with \"sliding_attention\"")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"su\", \"long_factor\": [1.0]}", 18, 28, "\"rope_scaling\" of type \"su\" is not supported")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"longrope\"}", 18, 33, "\"rope_scaling\" of type \"longrope\" is not supported")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2.0}", 18, 33, "\"rope_scaling\" of type \"dynamic\" is not supported")]
    [InlineData("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1", 20, 26, "must be true or false")]
    [InlineData("\"mlp_bias\": false,", "\"mlp_bias\": false, \"head_dim\": 33,", 12, 34, "\"head_dim\": 33 is odd")]
    public void Each_problem_is_located_at_its_key_or_value(string from, string to, int line, int column, string message)
    {
        string text = SmolLM2.Replace(from, to);
        var (_, problems) = HfConfig.Read(JsonReader.Parse(text));
        ConfigProblem problem = Assert.Single(problems);
        Assert.Contains(message, problem.Message);
        Assert.Equal((line, column), At(text, problem.Span));
    }

    [Fact]
    public void Gpt2_and_bert_configs_map_to_their_families()
    {
        var (gpt, p1) = HfConfig.Read(JsonReader.Parse("""{"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "n_inner": null, "vocab_size": 50257, "n_positions": 1024}"""));
        Assert.Empty(p1);
        Assert.Equal(2, gpt.Single(s => s.Property == "Family").Value);
        // n_inner null is transformers' 4 * n_embd, located at the model_type that chose it.
        ConfigSetting ffn = gpt.Single(s => s.Property == "FeedForwardDim");
        Assert.Equal(3072, ffn.Value);
        Assert.Equal(15, ffn.Span.Start);
        var (bert, p2) = HfConfig.Read(JsonReader.Parse("""{"model_type": "bert", "num_hidden_layers": 6, "num_attention_heads": 12, "hidden_size": 384, "intermediate_size": 1536, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2}"""));
        Assert.Empty(p2);
        Assert.Equal(4, bert.Single(s => s.Property == "Family").Value);
        var (_, p3) = HfConfig.Read(JsonReader.Parse("[1]"));
        Assert.Contains("one JSON object", Assert.Single(p3).Message);
    }
}
