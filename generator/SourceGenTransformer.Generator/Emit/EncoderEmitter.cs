using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.KernelEmitter;
using static SourceGenTransformer.Generator.Emit.ModelEmitter;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// Writes what the Seq2Seq encoder and BERT share: the encoder-layer weights (nn.TransformerEncoderLayer's
/// layout: a fused in_proj, out_proj, linear1, linear2, norm1, norm2), scratch buffers, and one encoder
/// layer over all positions at once (matrix-matrix projections, bidirectional attention with masked keys).
/// </summary>
internal static class EncoderEmitter
{
    /// <summary>The encoder-layer weight fields, stacked over <paramref name="layers"/> (a constant's name).</summary>
    public static void EmitWeightFields(SourceWriter w, string layers)
    {
        w.Line($"public readonly float[] EncInW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>({layers} * 3 * ModelDim * ModelDim);     // (layer, 3 * dim, dim) query, key, value rows");
        w.Line($"public readonly float[] EncInB = new float[{layers} * 3 * ModelDim];                // (layer, 3 * dim)");
        w.Line($"public readonly float[] EncOutW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>({layers} * ModelDim * ModelDim);        // (layer, dim, dim) attention output projection");
        w.Line($"public readonly float[] EncOutB = new float[{layers} * ModelDim];                   // (layer, dim)");
        w.Line($"public readonly float[] EncNorm1W = new float[{layers} * ModelDim];                 // (layer, dim) norm around attention");
        w.Line($"public readonly float[] EncNorm1B = new float[{layers} * ModelDim];                 // (layer, dim)");
        w.Line($"public readonly float[] EncLin1W = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>({layers} * FeedForwardDim * ModelDim); // (layer, ffn, dim)");
        w.Line($"public readonly float[] EncLin1B = new float[{layers} * FeedForwardDim];            // (layer, ffn)");
        w.Line($"public readonly float[] EncLin2W = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>({layers} * ModelDim * FeedForwardDim); // (layer, dim, ffn)");
        w.Line($"public readonly float[] EncLin2B = new float[{layers} * ModelDim];                  // (layer, dim)");
        w.Line($"public readonly float[] EncNorm2W = new float[{layers} * ModelDim];                 // (layer, dim) norm around the feed-forward block");
        w.Line($"public readonly float[] EncNorm2B = new float[{layers} * ModelDim];                 // (layer, dim)");
    }

    /// <summary>The job number of EncoderBuffers.MatMul for a product of that shape.</summary>
    public static int MatMulJob(ModelShape s, int d, int n) => JobOf(MatMulShapes(s), d, n);

    /// <summary>The EncoderBuffers class, the EncoderLayer method and the SelfAttention method.</summary>
    public static void EmitEncoder(SourceWriter w, ModelShape s)
    {
        string d = I(s.ModelDim), f = I(s.FeedForwardDim), qkv = I(3 * s.ModelDim);
        string norm = NormName(s);
        bool pre = s.NormFirst;
        float scale = (float)(1.0 / System.Math.Sqrt(s.HeadDim));

        List<(int d, int n)> shapes = Distinct(MatMulShapes(s));
        // Attention scratch per part (AttentionEmitter.EmitQueries).
        string scoreLength = AttentionEmitter.ScoreBufferLength;
        string keysLength = AttentionEmitter.TransposedKeysLength;
        string valuesLength = AttentionEmitter.GatheredValuesLength;

        w.Line("/// <summary>The encoder scratch kept between calls (null while a call holds it); see <see cref=\"RentEncoderBuffers\"/>.</summary>");
        w.Line("private EncoderBuffers? _spareEncoderBuffers;");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// The encoder scratch for a pass over <paramref name=\"length\"/> positions: the one kept from the last call when no other");
        w.Line("/// call holds it, else a new one, so encoding again allocates no scratch (several megabytes) and concurrent calls");
        w.Line("/// never share it. Give it back with <see cref=\"ReturnEncoderBuffers\"/>.");
        w.Line("/// </summary>");
        using (w.Block("private EncoderBuffers RentEncoderBuffers(int length)"))
        {
            w.Line("EncoderBuffers buffers = global::System.Threading.Interlocked.Exchange(ref _spareEncoderBuffers, null) ?? new EncoderBuffers(_pool);");
            w.Line("buffers.Length = length;");
            w.Line("return buffers;");
        }
        w.Line();
        w.Line("private void ReturnEncoderBuffers(EncoderBuffers buffers) => global::System.Threading.Volatile.Write(ref _spareEncoderBuffers, buffers);");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// Scratch for encoder passes of up to MaxSequenceLength positions (the current pass: <see cref=\"Length\"/>), and the");
        w.Line("/// parallel work of a pass: matrix products split by weight rows and attention split by positions across the model's");
        w.Line("/// worker pool.");
        w.Line("/// </summary>");
        using (w.Block("private sealed class EncoderBuffers : global::SourceGenTransformer.Runtime.IParallelWork"))
        {
            w.Line("public readonly float[] Xb, Xb2, Qkv, Att, Hb, Scores, KeysT, ValuesG;");
            w.Line("private readonly global::SourceGenTransformer.Runtime.WorkerPool _pool;");
            w.Line("/// <summary>The positions of the current pass.</summary>");
            w.Line("public int Length;");
            w.Line("private int _job, _outAt, _wAt, _bAt, _keyCount;");
            w.Line("private float[] _out = [], _in = [], _w = [], _b = [];");
            w.Line("private int[] _keys = [];");
            w.Line();
            using (w.Block("public EncoderBuffers(global::SourceGenTransformer.Runtime.WorkerPool pool)"))
            {
                w.Line("const int L = MaxSequenceLength;");
                w.Line("_pool = pool;");
                w.Line("Xb = new float[L * ModelDim];          // (length, dim) normed input of a sub-block, then a projection");
                w.Line("Xb2 = new float[L * ModelDim];         // (length, dim) a sub-block's output before the residual add");
                w.Line("Qkv = new float[L * 3 * ModelDim];     // (length, 3 * dim) queries, keys, values");
                w.Line("Att = new float[L * ModelDim];         // (length, dim) attention output, heads side by side");
                w.Line("Hb = new float[L * FeedForwardDim];    // (length, ffn) feed-forward hidden");
                w.Line($"Scores = new float[pool.Threads * {scoreLength}]; // (part, ...) attention weights per part");
                w.Line($"KeysT = new float[pool.Threads * {keysLength}];   // (part, ...) one head's keys, transposed in blocks, per part");
                w.Line($"ValuesG = new float[pool.Threads * {valuesLength}]; // (part, seq, head_dim) one head's values per part");
            }
            w.Line();
            w.Line("/// <summary>output[outAt..] (length, rows) = input (length, cols) @ w[wAt..]ᵀ + b[bAt..], the rows split across the pool; job names the shape.</summary>");
            using (w.Block("public void MatMul(int job, float[] output, int outAt, float[] input, float[] w, int wAt, float[] b, int bAt)"))
            {
                w.Line("_job = job; _out = output; _outAt = outAt; _in = input; _w = w; _wAt = wAt; _b = b; _bAt = bAt;");
                w.Line("_pool.Run(this);");
            }
            w.Line();
            w.Line("/// <summary>Att = self-attention over Qkv, the positions split across the pool.</summary>");
            using (w.Block("public void Attention(int[] keys, int keyCount)"))
            {
                w.Line("_job = -1; _keys = keys; _keyCount = keyCount;");
                w.Line("_pool.Run(this);");
            }
            w.Line();
            w.Line("/// <inheritdoc/>");
            using (w.Block("public void Execute(int part, int parts)"))
            {
                w.Line("int n = Length;");
                using (w.Block("switch (_job)"))
                {
                    using (w.Block("case -1:"))
                    {
                        w.Line("(int ts, int te) = global::SourceGenTransformer.Runtime.WorkerPool.Range(n, 1, part, parts);");
                        w.Line($"SelfAttention(Qkv, Att, ts, te, _keys, _keyCount, {Rw("Scores", $"part * {scoreLength}", scoreLength)}, {Rw("KeysT", $"part * {keysLength}", keysLength)}, {Rw("ValuesG", $"part * {valuesLength}", valuesLength)});");
                        w.Line("break;");
                    }
                    for (int j = 0; j < shapes.Count; j++)
                    {
                        (int sd, int sn) = shapes[j];
                        using (w.Block($"case {I(j)}:"))
                        {
                            w.Line($"(int rs, int re) = global::SourceGenTransformer.Runtime.WorkerPool.Range({I(sd)}, {I(SplitRows(s, sd, 4))}, part, parts);");
                            w.Line($"Kernels.{MatMulName(sd, sn)}({Rw("_out", "_outAt", $"n * {I(sd)}")}, {Ro("_in", "0", $"n * {I(sn)}")}, {Ro("_w", "_wAt", $"{I(sd)} * {I(sn)}")}, {Ro("_b", "_bAt", I(sd))}, n, rs, re);");
                            w.Line("break;");
                        }
                    }
                }
            }
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line(pre
            ? "/// One encoder layer over all positions, in place on x (length, dim), pre-norm: x += attention(norm1(x)); x += ff(norm2(x))."
            : "/// One encoder layer over all positions, in place on x (length, dim), post-norm as in the paper: x = norm1(x + attention(x)); x = norm2(x + ff(x)).");
        w.Line("/// Attention reads only the key positions listed in <paramref name=\"keys\"/> (padding is left out).");
        w.Line("/// </summary>");
        using (w.Block("private static void EncoderLayer(Weights w, int l, float[] x, int length, int[] keys, int keyCount, EncoderBuffers b)"))
        {
            w.Line("const int D = ModelDim, F = FeedForwardDim;");
            string input = pre ? "b.Xb" : "x";
            if (pre)
            {
                w.Line($"// xb (length, {d}) = norm1(x), row by row");
                w.Line($"for (int t = 0; t < length; t++) Kernels.{norm}({Rw("b.Xb", "t * D", "D")}, {Ro("x", "t * D", "D")}, {Ro("w.EncNorm1W", "l * D", "D")}, {Ro("w.EncNorm1B", "l * D", "D")});");
            }
            w.Line($"// qkv (length, {qkv}) = {(pre ? "xb" : "x")} @ in_proj[l] ({qkv}x{d})ᵀ + in_proj_bias[l]");
            w.Line($"b.MatMul({I(MatMulJob(s, 3 * s.ModelDim, s.ModelDim))}, b.Qkv, 0, {input}, w.EncInW, l * 3 * D * D, w.EncInB, l * 3 * D);");
            w.Line($"// att (length, {d}) = softmax(q kᵀ / sqrt({I(s.HeadDim)})) v per head, over the unmasked keys");
            w.Line("b.Attention(keys, keyCount);");
            w.Line($"// xb2 (length, {d}) = att @ out_proj[l] ({d}x{d})ᵀ + out_proj_bias[l]");
            w.Line($"b.MatMul({I(MatMulJob(s, s.ModelDim, s.ModelDim))}, b.Xb2, 0, b.Att, w.EncOutW, l * D * D, w.EncOutB, l * D);");
            w.Line(pre ? "// x += xb2" : "// x = norm1(x + xb2)");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("x", "t * D", "D")}, {Ro("b.Xb2", "t * D", "D")});");
                if (!pre) w.Line($"Kernels.{norm}({Rw("x", "t * D", "D")}, {Ro("x", "t * D", "D")}, {Ro("w.EncNorm1W", "l * D", "D")}, {Ro("w.EncNorm1B", "l * D", "D")});");
            }
            w.Line();
            if (pre)
            {
                w.Line($"// xb (length, {d}) = norm2(x)");
                w.Line($"for (int t = 0; t < length; t++) Kernels.{norm}({Rw("b.Xb", "t * D", "D")}, {Ro("x", "t * D", "D")}, {Ro("w.EncNorm2W", "l * D", "D")}, {Ro("w.EncNorm2B", "l * D", "D")});");
            }
            w.Line($"// hb (length, {f}) = {s.Activation}({(pre ? "xb" : "x")} @ linear1[l] ({f}x{d})ᵀ + linear1_bias[l])");
            w.Line($"b.MatMul({I(MatMulJob(s, s.FeedForwardDim, s.ModelDim))}, b.Hb, 0, {input}, w.EncLin1W, l * F * D, w.EncLin1B, l * F);");
            w.Line($"for (int t = 0; t < length; t++) Kernels.{ActivationName(s)}({Rw("b.Hb", "t * F", "F")});");
            w.Line($"// xb2 (length, {d}) = hb @ linear2[l] ({d}x{f})ᵀ + linear2_bias[l]");
            w.Line($"b.MatMul({I(MatMulJob(s, s.ModelDim, s.FeedForwardDim))}, b.Xb2, 0, b.Hb, w.EncLin2W, l * D * F, w.EncLin2B, l * D);");
            w.Line(pre ? "// x += xb2" : "// x = norm2(x + xb2)");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("x", "t * D", "D")}, {Ro("b.Xb2", "t * D", "D")});");
                if (!pre) w.Line($"Kernels.{norm}({Rw("x", "t * D", "D")}, {Ro("x", "t * D", "D")}, {Ro("w.EncNorm2W", "l * D", "D")}, {Ro("w.EncNorm2B", "l * D", "D")});");
            }
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// att (length, dim): for each position t and head h, softmax over the unmasked keys j of q_t · k_j / sqrt(head_dim),");
        w.Line("/// then the weighted sum of v_j. Bidirectional: every position sees every unmasked key.");
        w.Line("/// </summary>");
        using (w.Block("private static void SelfAttention(float[] qkv, float[] att, int tStart, int tEnd, int[] keys, int keyCount, global::System.Span<float> scores, global::System.Span<float> keysT, global::System.Span<float> valuesG)"))
        {
            w.Line($"const float Scale = {Literal(scale)}f; // 1 / sqrt(head_dim)");
            w.Line("const int Stride = 3 * ModelDim;");
            using (w.Block("for (int h = 0; h < Heads; h++)"))
            {
                w.Line("// This head's unmasked keys and values, laid out once for all of this worker's positions.");
                using (w.Block(""))
                    AttentionEmitter.EmitLayOutKeysAndValues(w, "keysT", "valuesG", "keyCount",
                        "keys[i] * Stride + ModelDim + h * HeadDim", "qkv", "keys[i] * Stride + 2 * ModelDim + h * HeadDim", "qkv");
                AttentionEmitter.EmitQueries(w, s, "tStart", "tEnd", "qkv", "t * Stride + h * HeadDim", "keyCount",
                    "att", "t * ModelDim + h * HeadDim", "keysT", "valuesG", "scores");
            }
        }
        w.Line();
    }

    /// <summary>Reads one layer of nn.TransformerEncoderLayer-named tensors (prefix ends with the layer's dot).</summary>
    /// <remarks>Expects constants D (ModelDim) and F (FeedForwardDim), and locals file, w, l and p, in scope.</remarks>
    public static void EmitTorchEncoderLayerRead(SourceWriter w, ModelShape s)
    {
        w.Line(WeightsEmitter.ReadMatrix(s, 3 * s.ModelDim, "p + \"self_attn.in_proj_weight\"", "3 * D", "D", "new global::System.Span<float>(w.EncInW, l * 3 * D * D, 3 * D * D)"));
        w.Line("file.ReadInto(p + \"self_attn.in_proj_bias\", new long[] { 3 * D }, new global::System.Span<float>(w.EncInB, l * 3 * D, 3 * D));");
        w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, "p + \"self_attn.out_proj.weight\"", "D", "D", "new global::System.Span<float>(w.EncOutW, l * D * D, D * D)"));
        w.Line("file.ReadInto(p + \"self_attn.out_proj.bias\", new long[] { D }, new global::System.Span<float>(w.EncOutB, l * D, D));");
        w.Line(WeightsEmitter.ReadMatrix(s, s.FeedForwardDim, "p + \"linear1.weight\"", "F", "D", "new global::System.Span<float>(w.EncLin1W, l * F * D, F * D)"));
        w.Line("file.ReadInto(p + \"linear1.bias\", new long[] { F }, new global::System.Span<float>(w.EncLin1B, l * F, F));");
        w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, "p + \"linear2.weight\"", "D", "F", "new global::System.Span<float>(w.EncLin2W, l * D * F, D * F)"));
        w.Line("file.ReadInto(p + \"linear2.bias\", new long[] { D }, new global::System.Span<float>(w.EncLin2B, l * D, D));");
        w.Line("file.ReadInto(p + \"norm1.weight\", new long[] { D }, new global::System.Span<float>(w.EncNorm1W, l * D, D));");
        w.Line("file.ReadInto(p + \"norm1.bias\", new long[] { D }, new global::System.Span<float>(w.EncNorm1B, l * D, D));");
        w.Line("file.ReadInto(p + \"norm2.weight\", new long[] { D }, new global::System.Span<float>(w.EncNorm2W, l * D, D));");
        w.Line("file.ReadInto(p + \"norm2.bias\", new long[] { D }, new global::System.Span<float>(w.EncNorm2B, l * D, D));");
    }
}
