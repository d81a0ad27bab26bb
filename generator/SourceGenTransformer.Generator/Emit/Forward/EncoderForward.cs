using SourceGenTransformer.Generator.Emit.Kernels;
using SourceGenTransformer.Generator.Emit.Parallel;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Forward;

/// <summary>
/// Writes the encoder pass BERT and the Seq2Seq encoder share: nn.TransformerEncoderLayer's computation over all
/// positions at once (a fused in_proj, out_proj, linear1, linear2, norm1, norm2; post-norm or pre-norm), as matrix-matrix
/// products split by weight rows and bidirectional attention split by positions, with padding left out of the keys. The
/// class is the scratch of one pass; the model keeps one between calls. Each family adds its embedding (and Seq2Seq the
/// cross-attention keys and values) as methods of the same class.
/// </summary>
internal sealed class EncoderForward
{
    private readonly ModelSpec _spec;
    private readonly ModelShape _s;
    private readonly KernelSet _k;
    private readonly Jobs _jobs = new();
    private readonly string _weights;

    public EncoderForward(ModelSpec spec, KernelSet kernels)
    {
        _spec = spec;
        _s = spec.Shape;
        _k = kernels;
        _weights = spec.EnginePrefix + "Weights";
    }

    public void Emit(SourceWriter w)
    {
        ModelShape s = _s;
        string score = AttentionKernelsEmitter.ScoreBufferLength, keys = AttentionKernelsEmitter.TransposedKeysLength, values = AttentionKernelsEmitter.GatheredValuesLength;
        w.Line("/// <summary>");
        w.Line("/// Scratch for encoder passes of up to MaxSequenceLength positions, and the pass itself: embedding, layers, and the");
        w.Line("/// parallel work of a layer (matrix products split by weight rows, attention split by positions, on the model's pool).");
        w.Line("/// </summary>");
        w.Line(GeneratedCode);
        using (w.Block($"internal sealed class {_spec.EnginePrefix}Encoder : IParallelWork{(_s.Family == Family.Bert ? ", IPackedEncoder" : "")}"))
        {
            w.Line("private readonly float[] _xb = new float[MaxSequenceLength * ModelDim];       // (length, dim) normed input of a sub-block");
            w.Line("private readonly float[] _xb2 = new float[MaxSequenceLength * ModelDim];      // (length, dim) a sub-block's output before the residual add");
            w.Line("private readonly float[] _qkv = new float[MaxSequenceLength * QkvDim];        // (length, 3 * dim) queries, keys, values");
            w.Line("private readonly float[] _att = new float[MaxSequenceLength * ModelDim];      // (length, dim) attention output, heads side by side");
            w.Line("private readonly float[] _hb = new float[MaxSequenceLength * FeedForwardDim]; // (length, ffn) feed-forward hidden");
            w.Line("private readonly float[] _scores, _keysT, _valuesG; // (part, ...) attention scratch per part (AttendBlock)");
            w.Line("private readonly WorkerPool _pool;");
            w.Line("private int _length;             // the pass's positions");
            w.Line("// The pass's sequences: sequence g holds positions [_segStart[g], _segStart[g] + _segLength[g]) and attends to the");
            w.Line("// _segKeyCount[g] positions listed in _keys from _segKeyStart[g] on (ascending; padding is left out).");
            w.Line("private readonly int[] _segStart = new int[MaxSequenceLength], _segLength = new int[MaxSequenceLength];");
            w.Line("private readonly int[] _segKeyStart = new int[MaxSequenceLength], _segKeyCount = new int[MaxSequenceLength];");
            w.Line("private readonly int[] _keys = new int[MaxSequenceLength];");
            w.Line("private int _segments;");
            w.Line("private Job _job;");
            w.Line("private int _outAt, _wAt, _bAt; // the current product's output, weight and bias offsets");
            w.Line("private float[] _out = [], _in = [], _w = [], _b = [];");
            bool bertFamily = _s.Family == Family.Bert;
            if (bertFamily)
            {
                w.Line($"private readonly {_weights} _model;");
                w.Line("private readonly float[] _x = new float[MaxSequenceLength * ModelDim]; // (length, dim) the hidden states");
                w.Line("private readonly int[] _packTokens = new int[MaxSequenceLength], _packTypes = new int[MaxSequenceLength];");
                w.Line("private readonly int[] _packMask = new int[MaxSequenceLength], _packLengths = new int[MaxSequenceLength];");
            }
            w.Line();
            using (w.Block(bertFamily ? $"public {_spec.EnginePrefix}Encoder(WorkerPool pool, {_weights} model)" : $"public {_spec.EnginePrefix}Encoder(WorkerPool pool)"))
            {
                w.Line("_pool = pool;");
                if (bertFamily) w.Line("_model = model;");
                w.Line($"_scores = new float[pool.Threads * {score}];");
                w.Line($"_keysT = new float[pool.Threads * {keys}];");
                w.Line($"_valuesG = new float[pool.Threads * {values}];");
            }
            w.Line();
            if (bertFamily)
            {
                w.Line("int IPackedEncoder.ModelDim => ModelDim;");
                w.Line("int IPackedEncoder.MaxSequenceLength => MaxSequenceLength;");
                w.Line("int IPackedEncoder.VocabSize => VocabSize;");
                w.Line("int IPackedEncoder.TypeVocabSize => TypeVocabSize;");
                w.Line("Span<float> IPackedEncoder.Hidden => _x;");
                w.Line("int[] IPackedEncoder.PackTokens => _packTokens;");
                w.Line("int[] IPackedEncoder.PackTypes => _packTypes;");
                w.Line("int[] IPackedEncoder.PackMask => _packMask;");
                w.Line("int[] IPackedEncoder.PackLengths => _packLengths;");
                w.Line();
                EmitBertPass(w);
            }
            else EmitSeq2SeqPass(w);
            EmitLayer(w);
            w.Line("/// <summary>output[outAt..] (length, rows) = input (length, cols) @ w[wAt..]ᵀ + b[bAt..]: <paramref name=\"job\"/> names the product.</summary>");
            using (w.Block("private void MatMul(Job job, float[] output, int outAt, float[] input, float[] w, int wAt, float[] b, int bAt)"))
            {
                w.Line("_job = job; _out = output; _outAt = outAt; _in = input; _w = w; _wAt = wAt; _b = b; _bAt = bAt;");
                w.Line("_pool.Run(this);");
            }
            w.Line();
            _jobs.Emit(w);
        }
        w.Line();
    }

    /// <summary>A product of one shape as a job: this part's rows of <c>_w</c> over every position.</summary>
    private string Product(string name, string doc, int rows, int cols)
    {
        string kernel = _k.MatMul(rows, cols);
        return _jobs.Add(name, doc, w =>
        {
            w.Line("int n = _length;");
            w.Line($"(int rs, int re) = WorkerPool.Range({I(rows)}, {I(Jobs.SplitRows(_s, rows, 4))}, part, parts);");
            w.Line($"{kernel}(_out.AsSpan(_outAt, n * {I(rows)}), _in.AsSpan(0, n * {I(cols)}), _w.AsSpan(_wAt, {I(rows)} * {I(cols)}), _b.AsSpan(_bAt, {I(rows)}), n, rs, re);");
        });
    }

    private void EmitBertPass(SourceWriter w)
    {
        string norm = _k.Norm();
        w.Line("/// <summary>");
        w.Line("/// _x (length, dim) = the last hidden states of the sequences packed in tokens (lengths[g] each): the embedding block, then");
        w.Line("/// every layer, with positions restarting in each sequence and attention inside it, over the tokens mask keeps.");
        w.Line("/// </summary>");
        using (w.Block("public void EncodePacked(ReadOnlySpan<int> tokens, ReadOnlySpan<int> types, ReadOnlySpan<int> mask, ReadOnlySpan<int> lengths)"))
        {
            w.Line("const int D = ModelDim;");
            w.Line($"{_weights} w = _model;");
            w.Line("float[] x = _x;");
            w.Line("int start = 0, keyCount = 0;");
            using (w.Block("for (int g = 0; g < lengths.Length; g++)"))
            {
                w.Line("int end = start + lengths[g];");
                w.Line("_segStart[g] = start;");
                w.Line("_segLength[g] = lengths[g];");
                w.Line("_segKeyStart[g] = keyCount;");
                w.Line("for (int t = start; t < end; t++) if (mask.IsEmpty || mask[t] != 0) _keys[keyCount++] = t;");
                w.Line("_segKeyCount[g] = keyCount - _segKeyStart[g];");
                w.Line("// x (t, dim) = LayerNorm(word_embeddings[token] + token_type_embeddings[type] + position_embeddings[t - start])");
                using (w.Block("for (int t = start; t < end; t++)"))
                {
                    w.Line("int type = types.IsEmpty ? 0 : types[t];");
                    w.Line("ReadOnlySpan<float> word = w.TokenEmbedding.AsSpan(tokens[t] * D, D), kind = w.TokenType.AsSpan(type * D, D), place = w.Position.AsSpan((t - start) * D, D);");
                    w.Line("Span<float> row = x.AsSpan(t * D, D);");
                    w.Line("for (int i = 0; i < D; i++) row[i] = word[i] + kind[i] + place[i];");
                    w.Line($"{norm}(row, row, w.EmbNormW, w.EmbNormB);");
                }
                w.Line("start = end;");
            }
            w.Line("_segments = lengths.Length;");
            w.Line("for (int l = 0; l < Layers; l++) Layer(w, l, x, start);");
        }
        w.Line();
    }

    private void EmitSeq2SeqPass(SourceWriter w)
    {
        string norm = _k.Norm();
        string crossKv = Product("CrossKeyValue", $"cross keys or values (length, dim) = memory @ multihead_attn.in_proj[l] rows ({I(_s.ModelDim)}x{I(_s.ModelDim)})ᵀ + bias: this part's rows.", _s.ModelDim, _s.ModelDim);
        w.Line("/// <summary>");
        w.Line("/// memory (length, dim) = the encoder over a source (its padding, the positions listed outside <paramref name=\"keys\"/>,");
        w.Line("/// left out of attention), then, once, the cross-attention keys and values of every decoder layer: (layer, length, dim) each.");
        w.Line("/// </summary>");
        using (w.Block($"public void Encode({_weights} w, ReadOnlySpan<int> source, int[] keys, int keyCount, float[] memory, float[] crossKeys, float[] crossValues)"))
        {
            w.Line("const int D = ModelDim;");
            w.Line("int length = source.Length;");
            w.Line("// x (length, dim) = src_tok_emb[source] * sqrt(dim) + pos_embedding[0..length]");
            w.Line("for (int t = 0; t < length; t++)");
            w.Line("    for (int i = 0; i < D; i++)");
            w.Line("        memory[t * D + i] = w.SourceEmbedding[source[t] * D + i] * EmbeddingScale + w.Position[t * D + i];");
            w.Line("// One sequence, attending to the listed (not padding) positions.");
            w.Line("_segments = 1;");
            w.Line("_segStart[0] = 0;");
            w.Line("_segLength[0] = length;");
            w.Line("_segKeyStart[0] = 0;");
            w.Line("_segKeyCount[0] = keyCount;");
            w.Line("keys.AsSpan(0, keyCount).CopyTo(_keys);");
            w.Line("for (int l = 0; l < EncoderLayers; l++) Layer(w, l, memory, length);");
            w.Line("// memory = encoder.norm(x)");
            w.Line($"for (int t = 0; t < length; t++) {norm}(memory.AsSpan(t * D, D), memory.AsSpan(t * D, D), w.EncFinalNormW, w.EncFinalNormB);");
            w.Line();
            w.Line("// Cross-attention keys and values of every decoder layer, projected once.");
            using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
            {
                w.Line("// k (length, dim) = memory @ multihead_attn.in_proj[l][dim..2 dim]ᵀ + bias; v likewise with rows 2 dim..3 dim");
                w.Line($"MatMul({crossKv}, crossKeys, l * length * D, memory, w.DecCaInW, (l * 3 + 1) * D * D, w.DecCaInB, (l * 3 + 1) * D);");
                w.Line($"MatMul({crossKv}, crossValues, l * length * D, memory, w.DecCaInW, (l * 3 + 2) * D * D, w.DecCaInB, (l * 3 + 2) * D);");
            }
        }
        w.Line();
    }

    private void EmitLayer(SourceWriter w)
    {
        ModelShape s = _s;
        string d = I(s.ModelDim), f = I(s.FeedForwardDim), qkv = I(s.QkvDim);
        string norm = _k.Norm(), add = _k.Add(s.ModelDim);
        bool pre = s.NormFirst;
        string inProj = Product("InProj", $"qkv (length, {qkv}) = input @ in_proj[l] ({qkv}x{d})ᵀ + in_proj_bias[l]: this part's rows.", s.QkvDim, s.ModelDim);
        string attention = Attention();
        string outProj = Product("OutProj", $"xb2 (length, {d}) = att @ out_proj[l] ({d}x{d})ᵀ + out_proj_bias[l]: this part's rows.", s.ModelDim, s.ModelDim);
        string linear1 = Product("Linear1", $"hb (length, {f}) = input @ linear1[l] ({f}x{d})ᵀ + linear1_bias[l]: this part's rows.", s.FeedForwardDim, s.ModelDim);
        string linear2 = Product("Linear2", $"xb2 (length, {d}) = hb @ linear2[l] ({d}x{f})ᵀ + linear2_bias[l]: this part's rows.", s.ModelDim, s.FeedForwardDim);
        w.Line("/// <summary>");
        w.Line(pre
            ? "/// One encoder layer over all positions, in place on x (length, dim), pre-norm: x += attention(norm1(x)); x += ff(norm2(x))."
            : "/// One encoder layer over all positions, in place on x (length, dim), post-norm as in the paper: x = norm1(x + attention(x)); x = norm2(x + ff(x)).");
        w.Line("/// Attention stays inside each of the pass's sequences and reads only their listed key positions (padding is left out).");
        w.Line("/// </summary>");
        using (w.Block($"private void Layer({_weights} w, int l, float[] x, int length)"))
        {
            w.Line("const int D = ModelDim, F = FeedForwardDim;");
            w.Line("_length = length;");
            string input = pre ? "_xb" : "x";
            if (pre)
            {
                w.Line($"// xb (length, {d}) = norm1(x), row by row");
                w.Line($"for (int t = 0; t < length; t++) {norm}(_xb.AsSpan(t * D, D), x.AsSpan(t * D, D), w.EncNorm1W.AsSpan(l * D, D), w.EncNorm1B.AsSpan(l * D, D));");
            }
            w.Line($"// qkv (length, {qkv}) = {(pre ? "xb" : "x")} @ in_proj[l] ({qkv}x{d})ᵀ + in_proj_bias[l]");
            w.Line($"MatMul({inProj}, _qkv, 0, {input}, w.EncInW, l * QkvDim * D, w.EncInB, l * QkvDim);");
            w.Line($"// att (length, {d}) = softmax(q kᵀ / sqrt({I(s.HeadDim)})) v per head, over the unmasked keys");
            w.Line($"_job = {attention};");
            w.Line("_pool.Run(this);");
            w.Line($"// xb2 (length, {d}) = att @ out_proj[l] ({d}x{d})ᵀ + out_proj_bias[l]");
            w.Line($"MatMul({outProj}, _xb2, 0, _att, w.EncOutW, l * D * D, w.EncOutB, l * D);");
            w.Line(pre ? "// x += xb2" : "// x = norm1(x + xb2)");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"{add}(x.AsSpan(t * D, D), _xb2.AsSpan(t * D, D));");
                if (!pre) w.Line($"{norm}(x.AsSpan(t * D, D), x.AsSpan(t * D, D), w.EncNorm1W.AsSpan(l * D, D), w.EncNorm1B.AsSpan(l * D, D));");
            }
            w.Line();
            if (pre)
            {
                w.Line($"// xb (length, {d}) = norm2(x)");
                w.Line($"for (int t = 0; t < length; t++) {norm}(_xb.AsSpan(t * D, D), x.AsSpan(t * D, D), w.EncNorm2W.AsSpan(l * D, D), w.EncNorm2B.AsSpan(l * D, D));");
            }
            w.Line($"// hb (length, {f}) = {s.Activation}({(pre ? "xb" : "x")} @ linear1[l] ({f}x{d})ᵀ + linear1_bias[l])");
            w.Line($"MatMul({linear1}, _hb, 0, {input}, w.EncLin1W, l * F * D, w.EncLin1B, l * F);");
            w.Line($"for (int t = 0; t < length; t++) {_k.Activation()}(_hb.AsSpan(t * F, F));");
            w.Line($"// xb2 (length, {d}) = hb @ linear2[l] ({d}x{f})ᵀ + linear2_bias[l]");
            w.Line($"MatMul({linear2}, _xb2, 0, _hb, w.EncLin2W, l * D * F, w.EncLin2B, l * D);");
            w.Line(pre ? "// x += xb2" : "// x = norm2(x + xb2)");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"{add}(x.AsSpan(t * D, D), _xb2.AsSpan(t * D, D));");
                if (!pre) w.Line($"{norm}(x.AsSpan(t * D, D), x.AsSpan(t * D, D), w.EncNorm2W.AsSpan(l * D, D), w.EncNorm2B.AsSpan(l * D, D));");
            }
        }
        w.Line();
    }

    private string Attention()
    {
        string layOut = _k.LayOutKeys(listed: true), attend = _k.AttendBlock();
        string score = AttentionKernelsEmitter.ScoreBufferLength, keys = AttentionKernelsEmitter.TransposedKeysLength, values = AttentionKernelsEmitter.GatheredValuesLength;
        return _jobs.Add("Attention", "att (length, dim): for each position and head, softmax over its sequence's unmasked keys of q · k / sqrt(head_dim), weighted sum of v: this part's positions.", w =>
        {
            w.Line("(int ts, int te) = WorkerPool.Range(_length, 1, part, parts);");
            w.Line($"{Span} scores = _scores.AsSpan(part * {score}, {score});");
            w.Line($"{Span} keysT = _keysT.AsSpan(part * {keys}, {keys});");
            w.Line($"{Span} valuesG = _valuesG.AsSpan(part * {values}, {values});");
            using (w.Block("for (int g = 0; g < _segments; g++)"))
            {
                w.Line("// This part's positions of sequence g, which attend to its listed keys.");
                w.Line("int from = Math.Max(ts, _segStart[g]), to = Math.Min(te, _segStart[g] + _segLength[g]);");
                w.Line("if (from >= to) continue;");
                w.Line("ReadOnlySpan<int> positions = _keys.AsSpan(_segKeyStart[g], _segKeyCount[g]);");
                using (w.Block("for (int h = 0; h < Heads; h++)"))
                {
                    w.Line("// This head's keys and values of the sequence, laid out once for all of this part's positions in it.");
                    w.Line($"{layOut}(_qkv.AsSpan(ModelDim + h * HeadDim), _qkv.AsSpan(2 * ModelDim + h * HeadDim), QkvDim, positions, keysT, valuesG);");
                    w.Line($"{attend}(_qkv.AsSpan(h * HeadDim), QkvDim, _att.AsSpan(h * HeadDim), ModelDim, from, to, positions.Length, causal: false, keysT, valuesG, scores);");
                }
            }
        });
    }
}
