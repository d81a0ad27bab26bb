using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis.Text;

namespace SourceGenTransformer.Generator.Config;

/// <summary>One attribute property that a config.json decides, with the span of the value that decided it.</summary>
internal sealed record ConfigSetting(string Property, object Value, TextSpan Span);

/// <summary>A problem in a config.json, at the span of the key or value it concerns.</summary>
internal sealed record ConfigProblem(string Message, TextSpan Span);

/// <summary>
/// Reads a Hugging Face config.json into the attribute properties it decides, by the keys transformers' configuration
/// classes define. Only the model types whose semantics the engine implements today are accepted; every other key
/// that changes the forward pass is refused by name and value, so that no file declares a model the engine would run
/// wrongly.
/// </summary>
internal static class HfConfig
{
    /// <summary>The model types the engine runs, and the family each declares.</summary>
    public static readonly string[] SupportedTypes = ["llama", "gpt2", "bert"];

    public static (List<ConfigSetting> Settings, List<ConfigProblem> Problems) Read(JsonValue root)
    {
        var settings = new List<ConfigSetting>();
        var problems = new List<ConfigProblem>();
        if (root.Kind != JsonKind.Object)
        {
            problems.Add(new ConfigProblem($"a config.json holds one JSON object, but this file holds {root.Describe()}", root.Span));
            return (settings, problems);
        }

        if (!root.TryGet("model_type", out TextSpan typeKey, out JsonValue type))
        {
            problems.Add(new ConfigProblem("the key \"model_type\" is missing; it names the architecture (llama, gpt2, bert)", new TextSpan(root.Span.Start, 1)));
            return (settings, problems);
        }
        if (type.Kind != JsonKind.String)
        {
            problems.Add(new ConfigProblem($"\"model_type\" must be a string, but it is {type.Describe()}", type.Span));
            return (settings, problems);
        }

        void Int(string key, string property, bool required = true, int min = 1)
        {
            if (!root.TryGet(key, out TextSpan keySpan, out JsonValue v))
            {
                if (required) problems.Add(new ConfigProblem($"the key \"{key}\" is missing; a {type.String} config.json sets it", typeKey));
                return;
            }
            if (v.Kind == JsonKind.Null && !required) return;
            if (!v.IsInteger || v.Number < min || v.Number > int.MaxValue)
            {
                problems.Add(new ConfigProblem($"\"{key}\" must be an integer of at least {min.ToString(CultureInfo.InvariantCulture)}, but it is {v.Describe()}", v.Span));
                return;
            }
            settings.Add(new ConfigSetting(property, (int)v.Number, v.Span));
        }

        // A number or a boolean: the value as the attribute property's type, or a problem at the value.
        void Typed(string key, string property, JsonKind kind, string expected)
        {
            if (!root.TryGet(key, out _, out JsonValue v)) return;
            if (v.Kind != kind)
            {
                problems.Add(new ConfigProblem($"\"{key}\" must be {expected}, but it is {v.Describe()}", v.Span));
                return;
            }
            settings.Add(new ConfigSetting(property, kind == JsonKind.Bool ? v.Bool : (float)v.Number, v.Span));
        }

        void Float(string key, string property) => Typed(key, property, JsonKind.Number, "a number");
        void Bool(string key, string property) => Typed(key, property, JsonKind.Bool, "true or false");

        void Refuse(string key, string why)
        {
            if (root.TryGet(key, out _, out JsonValue v) && v.Kind != JsonKind.Null && !(v.Kind == JsonKind.Bool && !v.Bool))
                problems.Add(new ConfigProblem($"\"{key}\": {v.Describe()} is not supported: {why}", v.Span));
        }

        switch (type.String)
        {
            case "llama":
                settings.Add(new ConfigSetting("Family", (int)Model.Family.Llama, type.Span));
                Int("num_hidden_layers", "Layers");
                Int("num_attention_heads", "Heads");
                Int("num_key_value_heads", "KvHeads", required: false);
                Int("hidden_size", "ModelDim");
                Int("intermediate_size", "FeedForwardDim");
                Int("vocab_size", "VocabSize");
                Int("max_position_embeddings", "MaxSequenceLength");
                Float("rope_theta", "RopeTheta");
                Float("rms_norm_eps", "NormEpsilon");
                Bool("tie_word_embeddings", "TiedEmbeddings");
                Refuse("rope_scaling", "the engine computes plain rotary frequencies, so scaled RoPE would decode wrongly");
                Refuse("attention_bias", "the engine's Llama projections have no biases");
                Refuse("mlp_bias", "the engine's Llama MLP has no biases");
                if (root.TryGet("head_dim", out _, out JsonValue headDim) && headDim.Kind != JsonKind.Null
                    && root.TryGet("hidden_size", out _, out JsonValue hidden) && root.TryGet("num_attention_heads", out _, out JsonValue heads)
                    && heads.Number > 0 && headDim.Number * heads.Number != hidden.Number)
                    problems.Add(new ConfigProblem($"\"head_dim\": {headDim.Describe()} times num_attention_heads {heads.Describe()} is not hidden_size {hidden.Describe()}; the engine's heads split hidden_size", headDim.Span));
                break;
            case "gpt2":
                settings.Add(new ConfigSetting("Family", (int)Model.Family.Gpt2, type.Span));
                Int("n_layer", "Layers");
                Int("n_head", "Heads");
                Int("n_embd", "ModelDim");
                Int("n_inner", "FeedForwardDim", required: false);
                Int("vocab_size", "VocabSize");
                Int("n_positions", "MaxSequenceLength");
                Float("layer_norm_epsilon", "NormEpsilon");
                break;
            case "bert":
                settings.Add(new ConfigSetting("Family", (int)Model.Family.Bert, type.Span));
                Int("num_hidden_layers", "Layers");
                Int("num_attention_heads", "Heads");
                Int("hidden_size", "ModelDim");
                Int("intermediate_size", "FeedForwardDim");
                Int("vocab_size", "VocabSize");
                Int("max_position_embeddings", "MaxSequenceLength");
                Int("type_vocab_size", "TypeVocabSize");
                Float("layer_norm_eps", "NormEpsilon");
                break;
            default:
                problems.Add(new ConfigProblem($"\"model_type\": \"{type.String}\" is not an architecture this generator runs; it runs {string.Join(", ", SupportedTypes)}", type.Span));
                break;
        }
        return (settings, problems);
    }
}
