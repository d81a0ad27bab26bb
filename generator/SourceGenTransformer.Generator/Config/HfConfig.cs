using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis.Text;

namespace SourceGenTransformer.Generator.Config;

/// <summary>One attribute property that a config.json decides, with the span of the value that decided it.</summary>
internal sealed record ConfigSetting(string Property, object Value, TextSpan Span);

/// <summary>What a config.json problem is, which decides its diagnostic.</summary>
internal enum ProblemKind
{
    /// <summary>A key missing, of the wrong type, or with a value that cannot work.</summary>
    Invalid,

    /// <summary>A <c>model_type</c> or architecture the engine does not run.</summary>
    UnknownType,

    /// <summary>An option, named by its key and value, that the engine does not implement.</summary>
    Unsupported,

    /// <summary>A setting the engine leaves out without changing the model (a sampling option): a warning.</summary>
    Ignored,
}

/// <summary>A problem in a config.json, at the span of the key or value it concerns.</summary>
internal sealed record ConfigProblem(string Message, TextSpan Span, ProblemKind Kind = ProblemKind.Invalid);

/// <summary>
/// Reads a Hugging Face config.json into the attribute properties it decides, by the keys transformers' configuration
/// classes define. Only the model types whose semantics the engine implements today are accepted; every other key
/// that changes the forward pass is refused by name and value, so that no file declares a model the engine would run
/// wrongly.
/// </summary>
internal static class HfConfig
{
    /// <summary>The model types the engine runs, and the family each declares.</summary>
    public static readonly string[] SupportedTypes = ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gpt2", "bert"];

    /// <summary>The <c>architectures</c> each model type may name: the heads whose weights the engine reads.</summary>
    private static readonly Dictionary<string, string[]> Architectures = new()
    {
        ["llama"] = ["LlamaForCausalLM", "LlamaModel"],
        ["mistral"] = ["MistralForCausalLM", "MistralModel"],
        ["qwen2"] = ["Qwen2ForCausalLM", "Qwen2Model"],
        ["qwen3"] = ["Qwen3ForCausalLM", "Qwen3Model"],
        ["phi3"] = ["Phi3ForCausalLM", "Phi3Model"],
        ["gemma"] = ["GemmaForCausalLM", "GemmaModel"],
        ["gpt2"] = ["GPT2LMHeadModel", "GPT2Model"],
        ["bert"] = ["BertModel", "BertForMaskedLM", "BertForPreTraining"],
    };

    /// <summary>
    /// The attribute properties a declaration by config.json may set beside <c>ConfigFile</c>: the ones no config.json
    /// decides. <c>MaxSequenceLength</c> caps the file's own length.
    /// </summary>
    public static readonly string[] DeclarationProperties = ["ConfigFile", "MaxSequenceLength", "WeightPrecision", "Pooling", "NormalizeEmbeddings"];

    /// <summary>The KV cache length a declaration gets when it does not cap the file's <c>max_position_embeddings</c>.</summary>
    public const int DefaultMaxSequenceLength = 4096;

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
            problems.Add(new ConfigProblem("the key \"model_type\" is missing; it names the architecture (" + string.Join(", ", SupportedTypes) + ")", new TextSpan(root.Span.Start, 1)));
            return (settings, problems);
        }
        if (type.Kind != JsonKind.String)
        {
            problems.Add(new ConfigProblem($"\"model_type\" must be a string, but it is {type.Describe()}", type.Span));
            return (settings, problems);
        }
        if (!Architectures.TryGetValue(type.String, out string[]? known))
        {
            problems.Add(new ConfigProblem($"\"model_type\": \"{type.String}\" is not an architecture this generator runs; it runs {string.Join(", ", SupportedTypes)}", type.Span, ProblemKind.UnknownType));
            return (settings, problems);
        }
        if (root.TryGet("architectures", out _, out JsonValue architectures) && architectures.Kind == JsonKind.Array)
        {
            foreach (JsonValue name in architectures.Items)
                if (name.Kind != JsonKind.String || System.Array.IndexOf(known, name.String) < 0)
                    problems.Add(new ConfigProblem($"\"architectures\": {name.Describe()} is not a {type.String} model this generator runs; it runs {string.Join(", ", known)}", name.Span, ProblemKind.UnknownType));
        }

        // The span a default stands at: the model_type, which chose it.
        TextSpan defaulted = type.Span;

        int? Int(string key, string? property, int? fallback = null, int min = 1)
        {
            if (!root.TryGet(key, out _, out JsonValue v) || (v.Kind == JsonKind.Null && fallback is not null))
            {
                if (fallback is null)
                {
                    problems.Add(new ConfigProblem($"the key \"{key}\" is missing; a {type.String} config.json sets it", typeKey));
                    return null;
                }
                if (property is not null) settings.Add(new ConfigSetting(property, fallback.Value, defaulted));
                return fallback;
            }
            if (!v.IsInteger || v.Number < min || v.Number > int.MaxValue)
            {
                problems.Add(new ConfigProblem($"\"{key}\" must be an integer of at least {min.ToString(CultureInfo.InvariantCulture)}, but it is {v.Describe()}", v.Span));
                return null;
            }
            if (property is not null) settings.Add(new ConfigSetting(property, (int)v.Number, v.Span));
            return (int)v.Number;
        }

        // A number or a boolean: the value as the attribute property's type (or the class default), or a problem at the value.
        void Typed(string key, string property, JsonKind kind, string expected, object fallback)
        {
            if (!root.TryGet(key, out _, out JsonValue v))
            {
                settings.Add(new ConfigSetting(property, fallback, defaulted));
                return;
            }
            if (v.Kind != kind)
            {
                problems.Add(new ConfigProblem($"\"{key}\" must be {expected}, but it is {v.Describe()}", v.Span));
                return;
            }
            settings.Add(new ConfigSetting(property, kind == JsonKind.Bool ? v.Bool : (float)v.Number, v.Span));
        }

        void Float(string key, string property, float fallback) => Typed(key, property, JsonKind.Number, "a number", fallback);
        void Bool(string key, string property, bool fallback) => Typed(key, property, JsonKind.Bool, "true or false", fallback);

        void Token(string key, string property, int fallback) => TokenSetting(root, key, property, fallback, defaulted, settings, problems);

        void Refuse(string key, string why)
        {
            if (root.TryGet(key, out _, out JsonValue v) && v.Kind != JsonKind.Null && !(v.Kind == JsonKind.Bool && !v.Bool))
                problems.Add(new ConfigProblem($"\"{key}\": {v.Describe()} is not supported: {why}", v.Span, ProblemKind.Unsupported));
        }

        // rope_scaling: "llama3" (exact), or refused by its type ("rope_type", or the older "type").
        void RopeScaling()
        {
            if (!root.TryGet("rope_scaling", out _, out JsonValue v) || v.Kind == JsonKind.Null) return;
            JsonValue kind = default!;
            bool typed = v.Kind == JsonKind.Object && (v.TryGet("rope_type", out _, out kind) || v.TryGet("type", out _, out kind));
            if (!typed || kind.Kind != JsonKind.String || kind.String != "llama3")
            {
                string named = typed ? "of type " + kind.Describe() : v.Describe();
                problems.Add(new ConfigProblem($"\"rope_scaling\" {named} is not supported: the engine scales rotary frequencies by type \"llama3\" only, so other scaling would decode wrongly", typed ? kind.Span : v.Span, ProblemKind.Unsupported));
                return;
            }
            foreach ((string key, string property) in new[] { ("factor", "RopeScaleFactor"), ("low_freq_factor", "RopeLowFreqFactor"), ("high_freq_factor", "RopeHighFreqFactor"), ("original_max_position_embeddings", "RopeOriginalLength") })
            {
                if (!v.TryGet(key, out _, out JsonValue x))
                {
                    problems.Add(new ConfigProblem($"\"rope_scaling\" of type \"llama3\" needs \"{key}\"", v.Span));
                    continue;
                }
                bool integer = property == "RopeOriginalLength";
                if (x.Kind != JsonKind.Number || !(x.Number > 0) || (integer && (!x.IsInteger || x.Number > int.MaxValue)))
                {
                    problems.Add(new ConfigProblem($"\"rope_scaling\".\"{key}\" must be {(integer ? "an integer" : "a number")} greater than 0, but it is {x.Describe()}", x.Span));
                    continue;
                }
                settings.Add(new ConfigSetting(property, integer ? (object)(int)x.Number : (float)x.Number, x.Span));
            }
            if (v.TryGet("low_freq_factor", out _, out JsonValue low) && v.TryGet("high_freq_factor", out _, out JsonValue high)
                && low.Kind == JsonKind.Number && high.Kind == JsonKind.Number && !(high.Number > low.Number))
                problems.Add(new ConfigProblem($"\"rope_scaling\".\"high_freq_factor\" {high.Describe()} must be greater than \"low_freq_factor\" {low.Describe()}", high.Span));
        }

        // Keys of mixtures of experts, which route each token through a subset of several MLPs.
        void RefuseExperts()
        {
            foreach (string key in new[] { "num_local_experts", "num_experts", "n_routed_experts", "moe_intermediate_size" })
                if (root.TryGet(key, out _, out JsonValue v) && v.Kind == JsonKind.Number && v.Number > 0)
                    problems.Add(new ConfigProblem($"\"{key}\": {v.Describe()} is not supported: the engine runs one dense MLP per layer, not a mixture of experts", v.Span, ProblemKind.Unsupported));
        }

        void Activation(string key, string expected, string why)
        {
            if (root.TryGet(key, out _, out JsonValue v) && !(v.Kind == JsonKind.String && v.String == expected))
                problems.Add(new ConfigProblem($"\"{key}\": {v.Describe()} is not supported: {why}", v.Span, ProblemKind.Unsupported));
        }

        // Heads split the width, and key/value heads the heads; the problem stands at the heads' value.
        void Split(string? widthKey, string headsKey, string? kvKey, bool rotary)
        {
            if (!root.TryGet(headsKey, out _, out JsonValue h) || !h.IsInteger || h.Number < 1)
                return;
            if (widthKey is null)
            {
                // An explicit head_dim: only key/value heads must divide the heads.
                if (kvKey is not null && root.TryGet(kvKey, out _, out JsonValue g) && g.IsInteger && g.Number >= 1 && h.Number % g.Number != 0)
                    problems.Add(new ConfigProblem($"\"{kvKey}\": {g.Describe()} does not divide \"{headsKey}\" {h.Describe()}; grouped-query attention shares each key/value head among {headsKey} / {kvKey} query heads", g.Span));
                return;
            }
            if (!root.TryGet(widthKey, out _, out JsonValue width) || !width.IsInteger || width.Number < 1)
                return;
            if (width.Number % h.Number != 0)
            {
                problems.Add(new ConfigProblem($"\"{headsKey}\": {h.Describe()} does not divide \"{widthKey}\" {width.Describe()}; each head takes {widthKey} / {headsKey} dimensions", h.Span));
                return;
            }
            if (kvKey is not null && root.TryGet(kvKey, out _, out JsonValue kv) && kv.IsInteger && kv.Number >= 1 && h.Number % kv.Number != 0)
                problems.Add(new ConfigProblem($"\"{kvKey}\": {kv.Describe()} does not divide \"{headsKey}\" {h.Describe()}; grouped-query attention shares each key/value head among {headsKey} / {kvKey} query heads", kv.Span));
            else if (rotary && (width.Number / h.Number) % 2 != 0)
                problems.Add(new ConfigProblem($"\"{headsKey}\": {h.Describe()} gives heads of {(width.Number / h.Number).ToString(CultureInfo.InvariantCulture)} dimensions ({widthKey} / {headsKey}), but rotary positions rotate pairs, so a head's width must be even", h.Span));
        }

        // The model types the Llama engine runs (with feature flags): the family, the model type and the dimensions
        // every one of them names alike; returns the heads and the width.
        (int? Heads, int? Width) LlamaEngine()
        {
            settings.Add(new ConfigSetting("Family", (int)Model.Family.Llama, type.Span));
            settings.Add(new ConfigSetting("ModelType", type.String, type.Span));
            Int("num_hidden_layers", "Layers");
            int? heads = Int("num_attention_heads", "Heads");
            Int("num_key_value_heads", "KvHeads", fallback: heads ?? 0, min: 1);
            int? width = Int("hidden_size", "ModelDim");
            Int("intermediate_size", "FeedForwardDim");
            Int("vocab_size", "VocabSize");
            return (heads, width);
        }

        RefuseExperts();
        // layer_types (newer configs) names each layer's attention; the engine runs one kind in every layer.
        if (root.TryGet("layer_types", out _, out JsonValue layerTypes) && layerTypes.Kind == JsonKind.Array)
        {
            foreach (JsonValue kind in layerTypes.Items)
                if (kind.Kind != JsonKind.String || kind.String != (layerTypes.Items[0].Kind == JsonKind.String ? layerTypes.Items[0].String : ""))
                {
                    problems.Add(new ConfigProblem($"\"layer_types\" mixes {layerTypes.Items[0].Describe()} with {kind.Describe()}: not supported, the engine runs the same attention in every layer", kind.Span, ProblemKind.Unsupported));
                    break;
                }
        }
        switch (type.String)
        {
            case "llama":
            case "mistral":
            case "qwen2":
            case "qwen3":
                LlamaEngine();
                bool qwen = type.String == "qwen2", qwen3 = type.String == "qwen3", mistral = type.String == "mistral";
                // transformers' class defaults: LlamaConfig, MistralConfig, Qwen2Config.
                Int("max_position_embeddings", "MaxSequenceLength", fallback: qwen || qwen3 ? 32768 : mistral ? 4096 * 32 : 2048);
                Float("rope_theta", "RopeTheta", 10000f);
                Float("rms_norm_eps", "NormEpsilon", 1e-6f);
                Bool("tie_word_embeddings", "TiedEmbeddings", false);
                Token("bos_token_id", "BosToken", qwen || qwen3 ? -1 : 1);
                Token("eos_token_id", "EosToken", qwen || qwen3 ? -1 : 2);
                Token("pad_token_id", "PadToken", -1);
                Activation("hidden_act", "silu", $"the engine's {type.String} MLP is SwiGLU, silu(gate) * up");
                RopeScaling();
                if (qwen)
                {
                    // Qwen2 has biases on q, k and v (not on o_proj), and its sliding window only under use_sliding_window.
                    settings.Add(new ConfigSetting("QkvBias", true, type.Span));
                    Refuse("use_sliding_window", "Qwen2's released models attend to every position; the engine does not run its windowed layers");
                }
                else if (type.String == "llama")
                {
                    // LlamaAttention: attention_bias puts a bias on q, k, v and o; LlamaMLP: mlp_bias on gate, up and down.
                    if (root.TryGet("attention_bias", out _, out JsonValue ab) && ab.Kind != JsonKind.Null)
                    {
                        if (ab.Kind != JsonKind.Bool)
                            problems.Add(new ConfigProblem($"\"attention_bias\" must be true or false, but it is {ab.Describe()}", ab.Span));
                        else if (ab.Bool)
                        {
                            settings.Add(new ConfigSetting("QkvBias", true, ab.Span));
                            settings.Add(new ConfigSetting("OutBias", true, ab.Span));
                        }
                    }
                    Typed("mlp_bias", "MlpBias", JsonKind.Bool, "true or false", false);
                }
                else
                {
                    if (qwen3)
                    {
                        // Qwen3: an RMSNorm over each head's queries and keys (q_norm, k_norm) before RoPE.
                        settings.Add(new ConfigSetting("QkNorm", true, type.Span));
                        Refuse("use_sliding_window", "Qwen3's released models attend to every position; the engine does not run its windowed layers");
                    }
                    Refuse("attention_bias", $"the engine's {type.String} projections have no biases");
                    Refuse("mlp_bias", $"the engine's {type.String} MLP has no biases");
                }
                // MistralConfig's sliding_window defaults to 4096; null means none (Mistral 7B v0.2 and later).
                if (mistral && !(root.TryGet("sliding_window", out _, out JsonValue window) && window.Kind == JsonKind.Null))
                    Int("sliding_window", "SlidingWindow", fallback: 4096);
                // head_dim: explicit in Qwen3 and Gemma (heads x head_dim may differ from hidden_size), else hidden / heads.
                if (root.TryGet("head_dim", out _, out JsonValue headDim) && headDim.Kind != JsonKind.Null)
                {
                    int? hd = Int("head_dim", "HeadDim");
                    if (hd % 2 == 1)
                        problems.Add(new ConfigProblem($"\"head_dim\": {headDim.Describe()} is odd, but rotary positions rotate pairs, so a head's width must be even", headDim.Span));
                    Split(null, "num_attention_heads", "num_key_value_heads", rotary: false);
                }
                else if (qwen3)
                    Int("head_dim", "HeadDim", fallback: 128);
                else
                    Split("hidden_size", "num_attention_heads", "num_key_value_heads", rotary: true);
                break;
            case "phi3":
                // Phi3ForCausalLM: q, k, v fused in qkv_proj and gate, up in gate_up_proj; RoPE on the first
                // partial_rotary_factor of each head; a sliding window when sliding_window is set.
                (int? ph, int? pw) = LlamaEngine();
                settings.Add(new ConfigSetting("FusedProjections", true, type.Span));
                Int("max_position_embeddings", "MaxSequenceLength", fallback: 4096);
                Float("rope_theta", "RopeTheta", 10000f);
                Float("rms_norm_eps", "NormEpsilon", 1e-5f);
                Bool("tie_word_embeddings", "TiedEmbeddings", false);
                Token("bos_token_id", "BosToken", 1);
                Token("eos_token_id", "EosToken", 32000);
                Token("pad_token_id", "PadToken", 32000);
                Activation("hidden_act", "silu", "the engine's Phi-3 MLP is SwiGLU, silu(gate) * up");
                RopeScaling();
                Refuse("attention_bias", "the engine's Phi-3 projections have no biases");
                if (root.TryGet("sliding_window", out _, out JsonValue phiWindow) && phiWindow.Kind != JsonKind.Null)
                    Int("sliding_window", "SlidingWindow");
                Split("hidden_size", "num_attention_heads", "num_key_value_heads", rotary: true);
                if (root.TryGet("partial_rotary_factor", out _, out JsonValue factor) && factor.Kind != JsonKind.Null)
                {
                    if (factor.Kind != JsonKind.Number || !(factor.Number > 0) || factor.Number > 1)
                        problems.Add(new ConfigProblem($"\"partial_rotary_factor\" must be a number in (0, 1], but it is {factor.Describe()}", factor.Span));
                    else if (pw is > 0 && ph is > 0 && pw % ph == 0)
                    {
                        // transformers: rotary dimensions = int(head_dim * partial_rotary_factor), in double precision.
                        int rotary = (int)(pw.Value / ph.Value * factor.Number);
                        if (rotary < 2 || rotary % 2 != 0)
                            problems.Add(new ConfigProblem($"\"partial_rotary_factor\": {factor.Describe()} rotates {rotary.ToString(CultureInfo.InvariantCulture)} of each head's {(pw.Value / ph.Value).ToString(CultureInfo.InvariantCulture)} dimensions, but rotary positions rotate pairs, so it must be an even number of at least 2", factor.Span));
                        else
                            settings.Add(new ConfigSetting("RotaryDim", rotary, factor.Span));
                    }
                }
                break;
            case "gemma":
                // GemmaForCausalLM: RMSNorm as x * (1 + w), the embedding scaled by sqrt(hidden_size), GeGLU, tied.
                LlamaEngine();
                settings.Add(new ConfigSetting("Gemma", true, type.Span));
                settings.Add(new ConfigSetting("Activation", (int)Model.Act.GeGlu, type.Span));
                int? gd = Int("head_dim", "HeadDim", fallback: 256);
                if (gd % 2 == 1 && root.TryGet("head_dim", out _, out JsonValue oddHead))
                    problems.Add(new ConfigProblem($"\"head_dim\": {oddHead.Describe()} is odd, but rotary positions rotate pairs, so a head's width must be even", oddHead.Span));
                Split(null, "num_attention_heads", "num_key_value_heads", rotary: false);
                Int("max_position_embeddings", "MaxSequenceLength", fallback: 8192);
                Float("rope_theta", "RopeTheta", 10000f);
                Float("rms_norm_eps", "NormEpsilon", 1e-6f);
                Token("bos_token_id", "BosToken", 2);
                Token("eos_token_id", "EosToken", 1);
                Token("pad_token_id", "PadToken", 0);
                if (root.TryGet("tie_word_embeddings", out _, out JsonValue gemmaTie) && !(gemmaTie.Kind == JsonKind.Bool && gemmaTie.Bool))
                    problems.Add(new ConfigProblem($"\"tie_word_embeddings\": {gemmaTie.Describe()} is not supported: Gemma's classifier is its token embedding", gemmaTie.Span, ProblemKind.Unsupported));
                settings.Add(new ConfigSetting("TiedEmbeddings", true, type.Span));
                // transformers' GemmaMLP uses hidden_activation (gelu_pytorch_tanh when unset); hidden_act is legacy.
                if (root.TryGet("hidden_activation", out _, out JsonValue gact) && gact.Kind != JsonKind.Null
                    && !(gact.Kind == JsonKind.String && (gact.String == "gelu_pytorch_tanh" || gact.String == "gelu_tanh")))
                    problems.Add(new ConfigProblem($"\"hidden_activation\": {gact.Describe()} is not supported: the engine's Gemma MLP is GeGLU with the tanh GELU, gelu_pytorch_tanh", gact.Span, ProblemKind.Unsupported));
                RopeScaling();
                Refuse("attention_bias", "the engine's Gemma projections have no biases");
                break;
            case "gpt2":
                settings.Add(new ConfigSetting("Family", (int)Model.Family.Gpt2, type.Span));
                Int("n_layer", "Layers");
                Int("n_head", "Heads");
                int? width = Int("n_embd", "ModelDim");
                Int("n_inner", "FeedForwardDim", fallback: 4 * (width ?? 0));
                Int("vocab_size", "VocabSize");
                Int("n_positions", "MaxSequenceLength", fallback: 1024);
                Float("layer_norm_epsilon", "NormEpsilon", 1e-5f);
                Bool("tie_word_embeddings", "TiedEmbeddings", true);
                Token("bos_token_id", "BosToken", 50256);
                Token("eos_token_id", "EosToken", 50256);
                Activation("activation_function", "gelu_new", "the engine's GPT-2 MLP is the tanh GELU, gelu_new");
                Refuse("scale_attn_by_inverse_layer_idx", "the engine scales attention by 1 / sqrt(head_dim) only");
                Refuse("reorder_and_upcast_attn", "the engine's attention is float32 throughout and not reordered");
                Split("n_embd", "n_head", null, rotary: false);
                break;
            case "bert":
                settings.Add(new ConfigSetting("Family", (int)Model.Family.Bert, type.Span));
                Int("num_hidden_layers", "Layers");
                Int("num_attention_heads", "Heads");
                Int("hidden_size", "ModelDim");
                Int("intermediate_size", "FeedForwardDim");
                Int("vocab_size", "VocabSize");
                Int("max_position_embeddings", "MaxSequenceLength", fallback: 512);
                Int("type_vocab_size", "TypeVocabSize", fallback: 2);
                Float("layer_norm_eps", "NormEpsilon", 1e-12f);
                Token("pad_token_id", "PadToken", 0);
                Activation("hidden_act", "gelu", "the engine's BERT feed-forward is the exact (erf) GELU");
                if (root.TryGet("position_embedding_type", out _, out JsonValue positions) && !(positions.Kind == JsonKind.String && positions.String == "absolute"))
                    problems.Add(new ConfigProblem($"\"position_embedding_type\": {positions.Describe()} is not supported: the engine's BERT adds a learned absolute position table", positions.Span, ProblemKind.Unsupported));
                Split("hidden_size", "num_attention_heads", null, rotary: false);
                break;
        }
        return (settings, problems);
    }

    /// <summary>
    /// Reads a generation_config.json: the <c>bos_token_id</c> and <c>eos_token_id</c> that <c>generate</c> uses,
    /// which take precedence over config.json's, as they do in transformers.
    /// </summary>
    public static (List<ConfigSetting> Settings, List<ConfigProblem> Problems) ReadGeneration(JsonValue root)
    {
        var settings = new List<ConfigSetting>();
        var problems = new List<ConfigProblem>();
        if (root.Kind != JsonKind.Object)
        {
            problems.Add(new ConfigProblem($"a generation_config.json holds one JSON object, but this file holds {root.Describe()}", root.Span));
            return (settings, problems);
        }
        if (root.TryGet("bos_token_id", out _, out _))
            TokenSetting(root, "bos_token_id", "BosToken", -1, root.Span, settings, problems);
        if (root.TryGet("eos_token_id", out _, out _))
            TokenSetting(root, "eos_token_id", "EosToken", -1, root.Span, settings, problems);

        // The sampling defaults of generate(), with GenerationConfig's own defaults: greedy unless do_sample; then
        // temperature 1.0, top_k 50 and top_p 1.0 unless given.
        TextSpan at = root.Span;
        bool sample = false;
        if (root.TryGet("do_sample", out _, out JsonValue doSample))
        {
            if (doSample.Kind != JsonKind.Bool) problems.Add(new ConfigProblem($"\"do_sample\" must be true or false, but it is {doSample.Describe()}", doSample.Span));
            else { sample = doSample.Bool; at = doSample.Span; }
        }
        double Number(string key, double fallback, double min, bool integer)
        {
            if (!root.TryGet(key, out _, out JsonValue v) || v.Kind == JsonKind.Null) return fallback;
            if (v.Kind != JsonKind.Number || v.Number < min || (integer && !v.IsInteger) || v.Number > int.MaxValue)
            {
                problems.Add(new ConfigProblem($"\"{key}\" must be {(integer ? "an integer" : "a number")} of at least {min.ToString(CultureInfo.InvariantCulture)}, but it is {v.Describe()}", v.Span));
                return fallback;
            }
            return v.Number;
        }
        double temperature = Number("temperature", 1.0, 0, false), topP = Number("top_p", 1.0, 0, false);
        double topK = Number("top_k", 50, 0, true), maxNew = Number("max_new_tokens", 256, 0, true);
        settings.Add(new ConfigSetting("SampleTemperature", sample ? (float)temperature : 0f, at));
        settings.Add(new ConfigSetting("SampleTopK", sample ? (int)topK : 0, at));
        settings.Add(new ConfigSetting("SampleTopP", sample ? (float)Math.Min(topP, 1.0) : 1f, at));
        settings.Add(new ConfigSetting("SampleMaxNewTokens", (int)maxNew, at));
        foreach ((string key, double neutral) in new[] { ("repetition_penalty", 1.0), ("no_repeat_ngram_size", 0.0), ("num_beams", 1.0) })
            if (root.TryGet(key, out _, out JsonValue v) && v.Kind == JsonKind.Number && v.Number != neutral)
                problems.Add(new ConfigProblem($"\"{key}\": {v.Describe()} is not applied: Generate's sampler has temperature, top_k and top_p only", v.Span, ProblemKind.Ignored));
        return (settings, problems);
    }

    /// <summary>
    /// A token id: an integer, null (none: -1), or for EOS a list of them. EOS also sets <c>EosTokens</c>, every id that
    /// ends generation; its first is <c>EosToken</c>.
    /// </summary>
    private static void TokenSetting(JsonValue root, string key, string property, int fallback, TextSpan defaulted,
        List<ConfigSetting> settings, List<ConfigProblem> problems)
    {
        bool eos = property == "EosToken";
        var ids = new List<int>();
        TextSpan span = defaulted;
        if (!root.TryGet(key, out _, out JsonValue v))
        {
            if (fallback >= 0) ids.Add(fallback);
        }
        else if (v.Kind != JsonKind.Null)
        {
            span = v.Span;
            bool list = v.Kind == JsonKind.Array && eos;
            foreach (JsonValue id in list ? v.Items : [v])
            {
                if (!id.IsInteger || id.Number < 0 || id.Number > int.MaxValue)
                {
                    problems.Add(new ConfigProblem($"\"{key}\" must be a token id (an integer of at least 0){(eos ? " or a list of them" : "")}, but {(list ? "it holds " : "it is ")}{id.Describe()}", id.Span));
                    return;
                }
                if (!ids.Contains((int)id.Number)) ids.Add((int)id.Number);
            }
        }
        else
            span = v.Span;
        settings.Add(new ConfigSetting(property, ids.Count > 0 ? ids[0] : -1, span));
        if (eos) settings.Add(new ConfigSetting("EosTokens", new Helpers.EquatableArray<int>(ids), span));
    }
}
