using System;
using System.Globalization;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.KernelEmitter;
using static SourceGenTransformer.Generator.Emit.ModelEmitter;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>Writes the Session class: run state with a shape comment on every buffer, and the forward pass read top to bottom like the paper.</summary>
internal static class SessionEmitter
{
    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        bool llama = s.Family == Family.Llama;
        w.Line("/// <summary>");
        w.Line("/// One sequence being decoded: the KV cache and every activation buffer, allocated once when the session is");
        w.Line("/// created. <see cref=\"Forward(int)\"/> allocates nothing. Not thread-safe: use one session per thread.");
        w.Line("/// </summary>");
        w.Line(GeneratedCode);
        using (w.Block("public sealed class Session : global::SourceGenTransformer.IDecoderSession"))
        {
            w.Line("private readonly Weights _w;");
            w.Line("private int _position;");
            w.Line("private readonly float[] _x = new float[ModelDim];            // (dim) the residual stream at the current position");
            w.Line("private readonly float[] _xb = new float[ModelDim];           // (dim) a sub-block's normed input, then the attention output");
            w.Line("private readonly float[] _xb2 = new float[ModelDim];          // (dim) a sub-block's output before the residual add");
            w.Line("private readonly float[] _hb = new float[FeedForwardDim];     // (ffn) feed-forward hidden");
            if (llama)
            {
                w.Line("private readonly float[] _hb2 = new float[FeedForwardDim];    // (ffn) feed-forward up projection");
                w.Line("private readonly float[] _q = new float[ModelDim];            // (dim) queries of all heads");
            }
            else
            {
                w.Line("private readonly float[] _qkv = new float[3 * ModelDim];      // (3 * dim) queries, keys, values from c_attn");
            }
            w.Line("private readonly float[] _att = new float[Heads * MaxSequenceLength];  // (heads, seq) attention weights");
            w.Line("private readonly float[] _logits = new float[VocabSize];      // (vocab) next-token logits");
            w.Line("private readonly float[] _keyCache = new float[Layers * MaxSequenceLength * KvDim];    // (layer, seq, kv_dim)");
            w.Line("private readonly float[] _valueCache = new float[Layers * MaxSequenceLength * KvDim];  // (layer, seq, kv_dim)");
            w.Line();
            w.Line("internal Session(Weights weights) => _w = weights;");
            w.Line();
            w.Line("/// <summary>Tokens consumed so far: the position the next token will take.</summary>");
            w.Line("public int Position => _position;");
            w.Line();

            w.Line("/// <summary>Consumes one token and returns the logits (VocabSize) for the next. The span is valid until the next call.</summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">The token is outside [0, VocabSize), or the session already holds MaxSequenceLength tokens.</exception>");
            using (w.Block("public global::System.ReadOnlySpan<float> Forward(int token)"))
            {
                w.Line($"if ((uint)token >= VocabSize) {Errors}.TokenOutOfRange(nameof(token), token, VocabSize);");
                w.Line($"if (_position >= MaxSequenceLength) {Errors}.ContextFull(nameof(token), _position, 1, MaxSequenceLength);");
                w.Line("Step(token, computeLogits: true);");
                w.Line("return _logits;");
            }
            w.Line();

            w.Line("/// <summary>Consumes a block of tokens (a prompt) and returns the logits (VocabSize) after the last. Checks every token before consuming any.</summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentException\">The block is empty, holds a token outside [0, VocabSize), or would take the session past MaxSequenceLength.</exception>");
            using (w.Block("public global::System.ReadOnlySpan<float> Forward(global::System.ReadOnlySpan<int> tokens)"))
            {
                w.Line($"if (tokens.IsEmpty) {Errors}.EmptyTokens(nameof(tokens));");
                w.Line($"if (tokens.Length > MaxSequenceLength - _position) {Errors}.ContextFull(nameof(tokens), _position, tokens.Length, MaxSequenceLength);");
                using (w.Block("for (int i = 0; i < tokens.Length; i++)"))
                    w.Line($"if ((uint)tokens[i] >= VocabSize) {Errors}.TokenOutOfRange(nameof(tokens), i, tokens[i], VocabSize);");
                w.Line("// Only the last position's logits are needed; the classifier is skipped before it.");
                w.Line("for (int i = 0; i < tokens.Length; i++) Step(tokens[i], computeLogits: i == tokens.Length - 1);");
                w.Line("return _logits;");
            }
            w.Line();

            w.Line("/// <summary>Forgets every consumed token; the session starts a new sequence at position 0.</summary>");
            w.Line("/// <remarks>The cache is not cleared: a row is always written before it is read.</remarks>");
            w.Line("public void Reset() => _position = 0;");
            w.Line();

            if (llama) EmitLlamaStep(w, s);
            else EmitGpt2Step(w, s);
            EmitAttention(w, s);
        }
        w.Line();
    }

    private static string Slice(string array, string offset, string length) => $"new global::System.ReadOnlySpan<float>({array}, {offset}, {length})";

    private static void EmitLlamaStep(SourceWriter w, ModelShape s)
    {
        string d = I(s.ModelDim), kv = I(s.KvDim), f = I(s.FeedForwardDim), v = I(s.VocabSize);
        string norm = NormName(s);
        int half = s.HeadDim / 2;
        w.Line("/// <summary>The forward pass for one token at <see cref=\"Position\"/>; advances the position.</summary>");
        using (w.Block("private void Step(int token, bool computeLogits)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int pos = _position;");
            w.Line($"// x ({d}) = token_embedding[token]");
            w.Line("new global::System.ReadOnlySpan<float>(w.TokenEmbedding, token * ModelDim, ModelDim).CopyTo(_x);");
            w.Line($"// This position's rotary angles: cos, sin ({I(half)}).");
            w.Line($"global::System.ReadOnlySpan<float> cos = new global::System.ReadOnlySpan<float>(RopeCos, pos * {I(half)}, {I(half)}), sin = new global::System.ReadOnlySpan<float>(RopeSin, pos * {I(half)}, {I(half)});");
            w.Line();
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line($"// xb ({d}) = rmsnorm(x) * input_layernorm[l]");
                w.Line($"Kernels.{norm}(_xb, _x, {Slice("w.AttentionNorm", "l * ModelDim", "ModelDim")});");
                w.Line();
                w.Line($"// q ({d}) = wq[l] ({d}x{d}) @ xb ({d})");
                w.Line($"Kernels.{MatVecName(s.ModelDim, s.ModelDim)}(_q, _xb, {Slice("w.Wq", "l * ModelDim * ModelDim", "ModelDim * ModelDim")});");
                w.Line($"// k, v ({kv}) = wk[l], wv[l] ({kv}x{d}) @ xb, written straight into this position's cache row");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * KvDim;");
                w.Line("global::System.Span<float> k = new global::System.Span<float>(_keyCache, cacheRow, KvDim);");
                w.Line($"Kernels.{MatVecName(s.KvDim, s.ModelDim)}(k, _xb, {Slice("w.Wk", "l * KvDim * ModelDim", "KvDim * ModelDim")});");
                w.Line($"Kernels.{MatVecName(s.KvDim, s.ModelDim)}(new global::System.Span<float>(_valueCache, cacheRow, KvDim), _xb, {Slice("w.Wv", "l * KvDim * ModelDim", "KvDim * ModelDim")});");
                w.Line($"// RoPE: rotate q ({I(s.Heads)} heads) and k ({I(s.KvHeads)} heads) by this position's angles");
                w.Line("Kernels.Rope(_q, Heads, cos, sin);");
                w.Line("Kernels.Rope(k, KvHeads, cos, sin);");
                w.Line();
                w.Line($"// xb ({d}) = causal attention of q over positions 0..pos");
                w.Line("Attention(l, pos, _q);");
                w.Line($"// x ({d}) += wo[l] ({d}x{d}) @ xb");
                w.Line($"Kernels.{MatVecName(s.ModelDim, s.ModelDim)}(_xb2, _xb, {Slice("w.Wo", "l * ModelDim * ModelDim", "ModelDim * ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
                w.Line();
                w.Line($"// xb ({d}) = rmsnorm(x) * post_attention_layernorm[l]");
                w.Line($"Kernels.{norm}(_xb, _x, {Slice("w.FfnNorm", "l * ModelDim", "ModelDim")});");
                w.Line($"// hb ({f}) = gate[l] ({f}x{d}) @ xb; hb2 ({f}) = up[l] ({f}x{d}) @ xb");
                w.Line($"Kernels.{MatVecName(s.FeedForwardDim, s.ModelDim)}(_hb, _xb, {Slice("w.WGate", "l * FeedForwardDim * ModelDim", "FeedForwardDim * ModelDim")});");
                w.Line($"Kernels.{MatVecName(s.FeedForwardDim, s.ModelDim)}(_hb2, _xb, {Slice("w.WUp", "l * FeedForwardDim * ModelDim", "FeedForwardDim * ModelDim")});");
                w.Line("// hb = silu(hb) * hb2");
                w.Line($"Kernels.{ActivationName(s)}(_hb, _hb2);");
                w.Line($"// x ({d}) += down[l] ({d}x{f}) @ hb");
                w.Line($"Kernels.{MatVecName(s.ModelDim, s.FeedForwardDim)}(_xb2, _hb, {Slice("w.WDown", "l * ModelDim * FeedForwardDim", "ModelDim * FeedForwardDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
            }
            w.Line("_position = pos + 1;");
            w.Line("if (!computeLogits) return;");
            w.Line();
            w.Line($"// logits ({v}) = classifier ({v}x{d}) @ (rmsnorm(x) * norm)");
            w.Line($"Kernels.{norm}(_x, _x, w.FinalNorm);");
            w.Line($"Kernels.{MatVecName(s.VocabSize, s.ModelDim)}(_logits, _x, w.Classifier);");
        }
        w.Line();
    }

    private static void EmitGpt2Step(SourceWriter w, ModelShape s)
    {
        string d = I(s.ModelDim), qkv = I(s.QkvDim), f = I(s.FeedForwardDim), v = I(s.VocabSize);
        string norm = NormName(s);
        w.Line("/// <summary>The forward pass for one token at <see cref=\"Position\"/>; advances the position.</summary>");
        using (w.Block("private void Step(int token, bool computeLogits)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int pos = _position;");
            w.Line($"// x ({d}) = wte[token] + wpe[pos]");
            w.Line("new global::System.ReadOnlySpan<float>(w.TokenEmbedding, token * ModelDim, ModelDim).CopyTo(_x);");
            w.Line($"Kernels.{AddName(s.ModelDim)}(_x, new global::System.ReadOnlySpan<float>(w.PositionEmbedding, pos * ModelDim, ModelDim));");
            w.Line();
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line($"// xb ({d}) = layernorm(x; ln_1[l])");
                w.Line($"Kernels.{norm}(_xb, _x, {Slice("w.Ln1Weight", "l * ModelDim", "ModelDim")}, {Slice("w.Ln1Bias", "l * ModelDim", "ModelDim")});");
                w.Line($"// qkv ({qkv}) = c_attn[l] ({qkv}x{d}) @ xb + c_attn.bias[l]");
                w.Line($"Kernels.{MatVecName(s.QkvDim, s.ModelDim)}(_qkv, _xb, {Slice("w.Wqkv", "l * 3 * ModelDim * ModelDim", "3 * ModelDim * ModelDim")});");
                w.Line($"Kernels.{AddName(s.QkvDim)}(_qkv, {Slice("w.Bqkv", "l * 3 * ModelDim", "3 * ModelDim")});");
                w.Line($"// k, v ({d}) go into this position's cache row");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * KvDim;");
                w.Line("new global::System.Span<float>(_qkv, ModelDim, KvDim).CopyTo(new global::System.Span<float>(_keyCache, cacheRow, KvDim));");
                w.Line("new global::System.Span<float>(_qkv, ModelDim + KvDim, KvDim).CopyTo(new global::System.Span<float>(_valueCache, cacheRow, KvDim));");
                w.Line();
                w.Line($"// xb ({d}) = causal attention of q over positions 0..pos");
                w.Line("Attention(l, pos, _qkv);");
                w.Line($"// x ({d}) += c_proj[l] ({d}x{d}) @ xb + c_proj.bias[l]");
                w.Line($"Kernels.{MatVecName(s.ModelDim, s.ModelDim)}(_xb2, _xb, {Slice("w.Wo", "l * ModelDim * ModelDim", "ModelDim * ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_xb2, {Slice("w.Bo", "l * ModelDim", "ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
                w.Line();
                w.Line($"// xb ({d}) = layernorm(x; ln_2[l])");
                w.Line($"Kernels.{norm}(_xb, _x, {Slice("w.Ln2Weight", "l * ModelDim", "ModelDim")}, {Slice("w.Ln2Bias", "l * ModelDim", "ModelDim")});");
                w.Line($"// hb ({f}) = {s.Activation}(c_fc[l] ({f}x{d}) @ xb + c_fc.bias[l])");
                w.Line($"Kernels.{MatVecName(s.FeedForwardDim, s.ModelDim)}(_hb, _xb, {Slice("w.WFc", "l * FeedForwardDim * ModelDim", "FeedForwardDim * ModelDim")});");
                w.Line($"Kernels.{AddName(s.FeedForwardDim)}(_hb, {Slice("w.BFc", "l * FeedForwardDim", "FeedForwardDim")});");
                w.Line($"Kernels.{ActivationName(s)}(_hb);");
                w.Line($"// x ({d}) += mlp.c_proj[l] ({d}x{f}) @ hb + mlp.c_proj.bias[l]");
                w.Line($"Kernels.{MatVecName(s.ModelDim, s.FeedForwardDim)}(_xb2, _hb, {Slice("w.WProj", "l * ModelDim * FeedForwardDim", "ModelDim * FeedForwardDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_xb2, {Slice("w.BProj", "l * ModelDim", "ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
            }
            w.Line("_position = pos + 1;");
            w.Line("if (!computeLogits) return;");
            w.Line();
            w.Line($"// logits ({v}) = classifier ({v}x{d}) @ layernorm(x; ln_f)");
            w.Line($"Kernels.{norm}(_x, _x, w.LnFWeight, w.LnFBias);");
            w.Line($"Kernels.{MatVecName(s.VocabSize, s.ModelDim)}(_logits, _x, w.Classifier);");
        }
        w.Line();
    }

    private static void EmitAttention(SourceWriter w, ModelShape s)
    {
        string hd = I(s.HeadDim);
        float scale = (float)(1.0 / Math.Sqrt(s.HeadDim));
        w.Line("/// <summary>");
        w.Line($"/// xb (dim) = for each head h: softmax(q_h · k_t / sqrt({hd}), t = 0..pos) weighted sum of v_t, reading key/value head");
        w.Line($"/// h / {I(s.KvGroup)} (grouped-query attention). Causal by construction: the cache holds nothing after pos yet.");
        w.Line("/// </summary>");
        using (w.Block("private void Attention(int layer, int pos, global::System.ReadOnlySpan<float> q)"))
        {
            w.Line($"const float Scale = {Literal(scale)}f; // 1 / sqrt(head_dim)");
            w.Line("int layerBase = layer * MaxSequenceLength * KvDim;");
            using (w.Block("for (int h = 0; h < Heads; h++)"))
            {
                w.Line($"int kvOffset = layerBase + h / {I(s.KvGroup)} * HeadDim;");
                AttentionEmitter.EmitHead(w, s, "q.Slice(h * HeadDim, HeadDim)",
                    scores: "new global::System.Span<float>(_att, h * MaxSequenceLength, pos + 1)", count: "pos + 1",
                    keyAt: "kvOffset + i * KvDim", keys: "_keyCache", valueAt: "kvOffset + i * KvDim", values: "_valueCache",
                    output: "new global::System.Span<float>(_xb, h * HeadDim, HeadDim)");
            }
        }
    }
}
