using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>Writes the Weights class: one float32 array per tensor kind, layers stacked, and the reader that fills it by the family's names.</summary>
internal static class WeightsEmitter
{
    private readonly record struct Tensor(string Field, string Shape, string Size, string Doc);

    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        w.Line("/// <summary>The model's weights in float32, row-major, layers stacked; every matrix is (out, in), so xout = W @ x.</summary>");
        w.Line(GeneratedCode);
        using (w.Block("internal sealed class Weights"))
        {
            Tensor[] tensors = s.Family == Family.Llama ? LlamaTensors(s) : Gpt2Tensors(s);
            foreach (Tensor t in tensors)
                w.Line($"public readonly float[] {t.Field} = new float[{t.Size}]; // {t.Shape} {t.Doc}");
            if (s.TiedEmbeddings)
                w.Line("public float[] Classifier => TokenEmbedding; // (vocab, dim) tied: the token embedding");
            else
                w.Line("public readonly float[] Classifier = new float[VocabSize * ModelDim]; // (vocab, dim)");
            w.Line();

            w.Line("/// <summary>Reads every tensor, checking its shape against the declaration.</summary>");
            using (w.Block("public static Weights Read(global::SourceGenTransformer.ITensorSource file)"))
            {
                w.Line("var w = new Weights();");
                if (s.Family == Family.Llama) EmitLlamaRead(w, s);
                else EmitGpt2Read(w, s);
                w.Line("return w;");
            }
        }
        w.Line();
    }

    private static Tensor[] LlamaTensors(ModelShape s) =>
    [
        new("TokenEmbedding", "(vocab, dim)", "VocabSize * ModelDim", "model.embed_tokens"),
        new("AttentionNorm", "(layer, dim)", "Layers * ModelDim", "input_layernorm"),
        new("Wq", "(layer, dim, dim)", "Layers * ModelDim * ModelDim", "self_attn.q_proj"),
        new("Wk", "(layer, kv_dim, dim)", "Layers * KvDim * ModelDim", "self_attn.k_proj"),
        new("Wv", "(layer, kv_dim, dim)", "Layers * KvDim * ModelDim", "self_attn.v_proj"),
        new("Wo", "(layer, dim, dim)", "Layers * ModelDim * ModelDim", "self_attn.o_proj"),
        new("FfnNorm", "(layer, dim)", "Layers * ModelDim", "post_attention_layernorm"),
        new("WGate", "(layer, ffn, dim)", "Layers * FeedForwardDim * ModelDim", "mlp.gate_proj"),
        new("WUp", "(layer, ffn, dim)", "Layers * FeedForwardDim * ModelDim", "mlp.up_proj"),
        new("WDown", "(layer, dim, ffn)", "Layers * ModelDim * FeedForwardDim", "mlp.down_proj"),
        new("FinalNorm", "(dim)", "ModelDim", "model.norm"),
    ];

    private static Tensor[] Gpt2Tensors(ModelShape s) =>
    [
        new("TokenEmbedding", "(vocab, dim)", "VocabSize * ModelDim", "wte"),
        new("PositionEmbedding", "(seq, dim)", "MaxSequenceLength * ModelDim", "wpe, first MaxSequenceLength rows"),
        new("Ln1Weight", "(layer, dim)", "Layers * ModelDim", "ln_1.weight"),
        new("Ln1Bias", "(layer, dim)", "Layers * ModelDim", "ln_1.bias"),
        new("Wqkv", "(layer, 3 * dim, dim)", "Layers * 3 * ModelDim * ModelDim", "attn.c_attn.weight, transposed"),
        new("Bqkv", "(layer, 3 * dim)", "Layers * 3 * ModelDim", "attn.c_attn.bias"),
        new("Wo", "(layer, dim, dim)", "Layers * ModelDim * ModelDim", "attn.c_proj.weight, transposed"),
        new("Bo", "(layer, dim)", "Layers * ModelDim", "attn.c_proj.bias"),
        new("Ln2Weight", "(layer, dim)", "Layers * ModelDim", "ln_2.weight"),
        new("Ln2Bias", "(layer, dim)", "Layers * ModelDim", "ln_2.bias"),
        new("WFc", "(layer, ffn, dim)", "Layers * FeedForwardDim * ModelDim", "mlp.c_fc.weight, transposed"),
        new("BFc", "(layer, ffn)", "Layers * FeedForwardDim", "mlp.c_fc.bias"),
        new("WProj", "(layer, dim, ffn)", "Layers * ModelDim * FeedForwardDim", "mlp.c_proj.weight, transposed"),
        new("BProj", "(layer, dim)", "Layers * ModelDim", "mlp.c_proj.bias"),
        new("LnFWeight", "(dim)", "ModelDim", "ln_f.weight"),
        new("LnFBias", "(dim)", "ModelDim", "ln_f.bias"),
    ];

    private static void EmitLlamaRead(SourceWriter w, ModelShape s)
    {
        w.Line("file.ReadInto(\"model.embed_tokens.weight\", new long[] { VocabSize, ModelDim }, w.TokenEmbedding);");
        using (w.Block("for (int l = 0; l < Layers; l++)"))
        {
            w.Line("string p = \"model.layers.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
            w.Line("file.ReadInto(p + \"input_layernorm.weight\", new long[] { ModelDim }, new global::System.Span<float>(w.AttentionNorm, l * ModelDim, ModelDim));");
            w.Line("file.ReadInto(p + \"self_attn.q_proj.weight\", new long[] { ModelDim, ModelDim }, new global::System.Span<float>(w.Wq, l * ModelDim * ModelDim, ModelDim * ModelDim));");
            w.Line("file.ReadInto(p + \"self_attn.k_proj.weight\", new long[] { KvDim, ModelDim }, new global::System.Span<float>(w.Wk, l * KvDim * ModelDim, KvDim * ModelDim));");
            w.Line("file.ReadInto(p + \"self_attn.v_proj.weight\", new long[] { KvDim, ModelDim }, new global::System.Span<float>(w.Wv, l * KvDim * ModelDim, KvDim * ModelDim));");
            w.Line("file.ReadInto(p + \"self_attn.o_proj.weight\", new long[] { ModelDim, ModelDim }, new global::System.Span<float>(w.Wo, l * ModelDim * ModelDim, ModelDim * ModelDim));");
            w.Line("file.ReadInto(p + \"post_attention_layernorm.weight\", new long[] { ModelDim }, new global::System.Span<float>(w.FfnNorm, l * ModelDim, ModelDim));");
            w.Line("file.ReadInto(p + \"mlp.gate_proj.weight\", new long[] { FeedForwardDim, ModelDim }, new global::System.Span<float>(w.WGate, l * FeedForwardDim * ModelDim, FeedForwardDim * ModelDim));");
            w.Line("file.ReadInto(p + \"mlp.up_proj.weight\", new long[] { FeedForwardDim, ModelDim }, new global::System.Span<float>(w.WUp, l * FeedForwardDim * ModelDim, FeedForwardDim * ModelDim));");
            w.Line("file.ReadInto(p + \"mlp.down_proj.weight\", new long[] { ModelDim, FeedForwardDim }, new global::System.Span<float>(w.WDown, l * ModelDim * FeedForwardDim, ModelDim * FeedForwardDim));");
        }
        w.Line("file.ReadInto(\"model.norm.weight\", new long[] { ModelDim }, w.FinalNorm);");
        if (!s.TiedEmbeddings)
            w.Line("file.ReadInto(\"lm_head.weight\", new long[] { VocabSize, ModelDim }, w.Classifier);");
    }

    private static void EmitGpt2Read(SourceWriter w, ModelShape s)
    {
        w.Line("// GPT2LMHeadModel saves the body under 'transformer.'; GPT2Model saves it bare.");
        w.Line("string t = file.Contains(\"transformer.wte.weight\") ? \"transformer.\" : \"\";");
        w.Line("file.ReadInto(t + \"wte.weight\", new long[] { VocabSize, ModelDim }, w.TokenEmbedding);");
        w.Line("// The position table may be longer than this declaration needs (GPT-2 ships 1024 rows).");
        w.Line("file.ReadLeadingRowsInto(t + \"wpe.weight\", MaxSequenceLength, ModelDim, w.PositionEmbedding);");
        using (w.Block("for (int l = 0; l < Layers; l++)"))
        {
            w.Line("string p = t + \"h.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
            w.Line("file.ReadInto(p + \"ln_1.weight\", new long[] { ModelDim }, new global::System.Span<float>(w.Ln1Weight, l * ModelDim, ModelDim));");
            w.Line("file.ReadInto(p + \"ln_1.bias\", new long[] { ModelDim }, new global::System.Span<float>(w.Ln1Bias, l * ModelDim, ModelDim));");
            w.Line("// Conv1D stores [in, out]; the kernels want (out, in).");
            w.Line("file.ReadTransposedInto(p + \"attn.c_attn.weight\", 3 * ModelDim, ModelDim, new global::System.Span<float>(w.Wqkv, l * 3 * ModelDim * ModelDim, 3 * ModelDim * ModelDim));");
            w.Line("file.ReadInto(p + \"attn.c_attn.bias\", new long[] { 3 * ModelDim }, new global::System.Span<float>(w.Bqkv, l * 3 * ModelDim, 3 * ModelDim));");
            w.Line("file.ReadTransposedInto(p + \"attn.c_proj.weight\", ModelDim, ModelDim, new global::System.Span<float>(w.Wo, l * ModelDim * ModelDim, ModelDim * ModelDim));");
            w.Line("file.ReadInto(p + \"attn.c_proj.bias\", new long[] { ModelDim }, new global::System.Span<float>(w.Bo, l * ModelDim, ModelDim));");
            w.Line("file.ReadInto(p + \"ln_2.weight\", new long[] { ModelDim }, new global::System.Span<float>(w.Ln2Weight, l * ModelDim, ModelDim));");
            w.Line("file.ReadInto(p + \"ln_2.bias\", new long[] { ModelDim }, new global::System.Span<float>(w.Ln2Bias, l * ModelDim, ModelDim));");
            w.Line("file.ReadTransposedInto(p + \"mlp.c_fc.weight\", FeedForwardDim, ModelDim, new global::System.Span<float>(w.WFc, l * FeedForwardDim * ModelDim, FeedForwardDim * ModelDim));");
            w.Line("file.ReadInto(p + \"mlp.c_fc.bias\", new long[] { FeedForwardDim }, new global::System.Span<float>(w.BFc, l * FeedForwardDim, FeedForwardDim));");
            w.Line("file.ReadTransposedInto(p + \"mlp.c_proj.weight\", ModelDim, FeedForwardDim, new global::System.Span<float>(w.WProj, l * ModelDim * FeedForwardDim, ModelDim * FeedForwardDim));");
            w.Line("file.ReadInto(p + \"mlp.c_proj.bias\", new long[] { ModelDim }, new global::System.Span<float>(w.BProj, l * ModelDim, ModelDim));");
        }
        w.Line("file.ReadInto(t + \"ln_f.weight\", new long[] { ModelDim }, w.LnFWeight);");
        w.Line("file.ReadInto(t + \"ln_f.bias\", new long[] { ModelDim }, w.LnFBias);");
        if (!s.TiedEmbeddings)
            w.Line("file.ReadInto(\"lm_head.weight\", new long[] { VocabSize, ModelDim }, w.Classifier);");
    }
}
