using SourceGenTransformer.Generator.Emit.Kernels;
using SourceGenTransformer.Generator.Emit.Parallel;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Forward;

/// <summary>
/// Writes the decoder of the original Transformer (Seq2Seq) for one sequence over one encoded source: masked
/// self-attention over its own KV cache, cross-attention over the encoder's output (keys and values projected once, in
/// Encode), and the feed-forward block, post-norm or pre-norm as nn.TransformerDecoderLayer computes them. Its
/// matrix-vector products split their rows across the model's pool.
/// </summary>
internal sealed class CrossDecoderForward
{
    private readonly ModelSpec _spec;
    private readonly ModelShape _s;
    private readonly KernelSet _k;
    private readonly Jobs _jobs = new();
    private readonly string _weights, _memory;

    public CrossDecoderForward(ModelSpec spec, KernelSet kernels)
    {
        _spec = spec;
        _s = spec.Shape;
        _k = kernels;
        _weights = spec.EnginePrefix + "Weights";
        _memory = spec.EnginePrefix + "Memory";
    }

    public void Emit(SourceWriter w)
    {
        EmitMemory(w);
        w.Line("/// <summary>The decoder over one encoded source: a causal self-attention KV cache and every buffer, allocated once.</summary>");
        w.Line(GeneratedCode);
        using (w.Block($"internal sealed class {_spec.EnginePrefix}Decoder : IParallelWork"))
        {
            w.Line($"private readonly {_weights} _w;");
            w.Line($"private readonly {_memory} _memory;");
            w.Line("private readonly WorkerPool _pool;");
            w.Line("private int _position;");
            w.Line("private Job _job;");
            w.Line("private int _wAt; // the current product's weight offset");
            w.Line("private float[] _mvOut = [], _mvIn = [], _mvW = [];");
            w.Line("private readonly float[] _x = new float[ModelDim];          // (dim) the residual stream");
            w.Line("private readonly float[] _xb = new float[ModelDim];         // (dim) a sub-block's normed input, then a projection");
            w.Line("private readonly float[] _xb2 = new float[ModelDim];        // (dim) attention output");
            w.Line("private readonly float[] _qkv = new float[QkvDim];          // (3 * dim) self-attention query, key, value");
            w.Line("private readonly float[] _q = new float[ModelDim];          // (dim) cross-attention query");
            w.Line("private readonly float[] _hb = new float[FeedForwardDim];   // (ffn) feed-forward hidden");
            w.Line("private readonly float[] _scores = new float[MaxSequenceLength]; // (seq) one head's attention weights");
            w.Line("private readonly float[] _logits = new float[TargetVocabSize];   // (target_vocab)");
            w.Line("private readonly float[] _keyCache = new float[DecoderLayers * MaxSequenceLength * ModelDim];   // (layer, seq, dim)");
            w.Line("private readonly float[] _valueCache = new float[DecoderLayers * MaxSequenceLength * ModelDim]; // (layer, seq, dim)");
            w.Line();
            using (w.Block($"public {_spec.EnginePrefix}Decoder({_weights} weights, {_memory} memory, WorkerPool pool)"))
            {
                w.Line("_w = weights;");
                w.Line("_memory = memory;");
                w.Line("_pool = pool;");
            }
            w.Line();
            w.Line("/// <summary>Target tokens consumed so far (BosToken included).</summary>");
            w.Line("public int Position => _position;");
            w.Line();
            w.Line("/// <summary>The next-token logits (TargetVocabSize) the last <see cref=\"Step\"/> wrote.</summary>");
            w.Line("public float[] Logits => _logits;");
            w.Line();
            w.Line("/// <summary>The encoded source this decoder attends to.</summary>");
            w.Line($"public {_memory} Memory => _memory;");
            w.Line();
            w.Line("/// <summary>Forgets the consumed target tokens; the encoded source stays.</summary>");
            w.Line("public void Reset() => _position = 0;");
            w.Line();
            w.Line("/// <summary>Makes this decoder's position and cache equal to another's over the same source (beam search forks so).</summary>");
            using (w.Block($"public void CopyFrom({_spec.EnginePrefix}Decoder other)"))
            {
                w.Line("_position = other._position;");
                w.Line("int rows = _position * ModelDim;");
                using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
                {
                    w.Line("int start = l * MaxSequenceLength * ModelDim;");
                    w.Line("Array.Copy(other._keyCache, start, _keyCache, start, rows);");
                    w.Line("Array.Copy(other._valueCache, start, _valueCache, start, rows);");
                }
            }
            w.Line();
            EmitStep(w);
            EmitAttention(w);
            w.Line("/// <summary>output = w[wAt..] (rows x cols) @ input, the rows split across the pool: <paramref name=\"job\"/> names the product.</summary>");
            using (w.Block("private void MatVec(Job job, float[] output, float[] input, float[] w, int wAt)"))
            {
                w.Line("_job = job; _mvOut = output; _mvIn = input; _mvW = w; _wAt = wAt;");
                w.Line("_pool.Run(this);");
            }
            w.Line();
            _jobs.Emit(w);
        }
        w.Line();
    }

    /// <summary>The encoded source as the decoder reads it; the model's public EncoderOutput wraps it.</summary>
    private void EmitMemory(SourceWriter w)
    {
        w.Line("/// <summary>An encoded source: the encoder's output and the decoder's cross-attention keys and values, computed once.</summary>");
        w.Line(GeneratedCode);
        using (w.Block($"internal sealed class {_memory}"))
        {
            w.Line("public float[] Rows = [];        // (source, dim) encoder output; a reused array may be longer");
            w.Line("public float[] CrossKeys = [];   // (decoder_layer, source, dim); likewise");
            w.Line("public float[] CrossValues = []; // (decoder_layer, source, dim); likewise");
            w.Line("public int[] Keys = [];          // source positions that are not padding, ascending");
            w.Line("public int KeyCount, Length;");
        }
        w.Line();
    }

    /// <summary>A product of one shape as a job: this part's claimed rows of <c>_mvW</c>.</summary>
    private string Product(string name, string doc, int rows, int cols)
    {
        string kernel = _k.MatVec(rows, cols);
        return _jobs.Add(name, doc, w =>
            Jobs.EmitRowClaims(w, _s, rows, cols, Jobs.SplitRows(_s, rows, 4), () =>
                w.Line($"{kernel}(_mvOut, _mvIn, _mvW.AsSpan(_wAt, {I(rows)} * {I(cols)}), rs, re);")));
    }

    private void EmitStep(SourceWriter w)
    {
        ModelShape s = _s;
        string d = I(s.ModelDim), f = I(s.FeedForwardDim), v = I(s.TargetVocabSize), qkv = I(s.QkvDim);
        string norm = _k.Norm(), add = _k.Add(s.ModelDim);
        bool pre = s.NormFirst;
        string selfQkv = Product("SelfQkv", $"qkv ({qkv}) = self_attn.in_proj[l] ({qkv}x{d}) @ input: this part's rows.", s.QkvDim, s.ModelDim);
        string selfOut = Product("SelfOut", $"xb ({d}) = self_attn.out_proj[l] ({d}x{d}) @ att: this part's rows.", s.ModelDim, s.ModelDim);
        string crossQuery = Product("CrossQuery", $"q ({d}) = multihead_attn.in_proj[l][0..{d}] @ input: this part's rows.", s.ModelDim, s.ModelDim);
        string crossOut = Product("CrossOut", $"xb ({d}) = multihead_attn.out_proj[l] ({d}x{d}) @ att: this part's rows.", s.ModelDim, s.ModelDim);
        string linear1 = Product("Linear1", $"hb ({f}) = linear1[l] ({f}x{d}) @ input: this part's rows.", s.FeedForwardDim, s.ModelDim);
        string linear2 = Product("Linear2", $"xb ({d}) = linear2[l] ({d}x{f}) @ hb: this part's rows.", s.ModelDim, s.FeedForwardDim);
        string generator = Product("Generator", $"logits ({v}) = generator ({v}x{d}) @ x: this part's rows.", s.TargetVocabSize, s.ModelDim);
        w.Line("/// <summary>");
        w.Line(pre
            ? "/// One decoder step, pre-norm: x += self_attn(norm1(x)); x += cross_attn(norm2(x), memory); x += ff(norm3(x))."
            : "/// One decoder step, post-norm as in the paper: x = norm1(x + self_attn(x)); x = norm2(x + cross_attn(x, memory)); x = norm3(x + ff(x)).");
        w.Line("/// </summary>");
        using (w.Block("public void Step(int token)"))
        {
            w.Line("const int D = ModelDim, F = FeedForwardDim;");
            w.Line($"{_weights} w = _w;");
            w.Line("int pos = _position;");
            w.Line($"// x ({d}) = tgt_tok_emb[token] * sqrt({d}) + pos_embedding[pos]");
            w.Line("for (int i = 0; i < D; i++) _x[i] = w.TargetEmbedding[token * D + i] * EmbeddingScale + w.Position[pos * D + i];");
            w.Line();
            using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
            {
                string Norm(int n, string output, string input) =>
                    $"{norm}({output}, {input}, w.DecNormW.AsSpan(({Plus("l * 3", n)}) * D, D), w.DecNormB.AsSpan(({Plus("l * 3", n)}) * D, D));";
                string input = pre ? "_xb" : "_x";
                string inputName = input.TrimStart('_');

                w.Line("// --- masked self-attention over target positions 0..pos");
                if (pre) w.Line(Norm(0, "_xb", "_x"));
                w.Line($"// qkv ({qkv}) = self_attn.in_proj[l] ({qkv}x{d}) @ {inputName} + bias");
                w.Line($"MatVec({selfQkv}, _qkv, {input}, w.DecSaInW, l * QkvDim * D);");
                w.Line($"{_k.Add(s.QkvDim)}(_qkv, w.DecSaInB.AsSpan(l * QkvDim, QkvDim));");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * D;");
                w.Line("_qkv.AsSpan(D, D).CopyTo(_keyCache.AsSpan(cacheRow, D));");
                w.Line("_qkv.AsSpan(2 * D, D).CopyTo(_valueCache.AsSpan(cacheRow, D));");
                w.Line("CausalAttention(l, pos);");
                w.Line($"// x {(pre ? "+=" : "= norm1(x +")} self_attn.out_proj[l] ({d}x{d}) @ att + bias{(pre ? "" : ")")}");
                w.Line($"MatVec({selfOut}, _xb, _xb2, w.DecSaOutW, l * D * D);");
                w.Line($"{add}(_xb, w.DecSaOutB.AsSpan(l * D, D));");
                w.Line($"{add}(_x, _xb);");
                if (!pre) w.Line(Norm(0, "_x", "_x"));
                w.Line();

                w.Line("// --- cross-attention over the encoded source");
                if (pre) w.Line(Norm(1, "_xb", "_x"));
                w.Line($"// q ({d}) = multihead_attn.in_proj[l][0..{d}] @ {inputName} + bias (keys and values were projected in Encode)");
                w.Line($"MatVec({crossQuery}, _q, {input}, w.DecCaInW, l * QkvDim * D);");
                w.Line($"{add}(_q, w.DecCaInB.AsSpan(l * QkvDim, D));");
                w.Line("CrossAttention(l);");
                w.Line($"// x {(pre ? "+=" : "= norm2(x +")} multihead_attn.out_proj[l] ({d}x{d}) @ att + bias{(pre ? "" : ")")}");
                w.Line($"MatVec({crossOut}, _xb, _xb2, w.DecCaOutW, l * D * D);");
                w.Line($"{add}(_xb, w.DecCaOutB.AsSpan(l * D, D));");
                w.Line($"{add}(_x, _xb);");
                if (!pre) w.Line(Norm(1, "_x", "_x"));
                w.Line();

                w.Line("// --- feed-forward");
                if (pre) w.Line(Norm(2, "_xb", "_x"));
                w.Line($"// hb ({f}) = {s.Activation}(linear1[l] ({f}x{d}) @ {inputName} + bias)");
                w.Line($"MatVec({linear1}, _hb, {input}, w.DecLin1W, l * F * D);");
                w.Line($"{_k.Add(s.FeedForwardDim)}(_hb, w.DecLin1B.AsSpan(l * F, F));");
                w.Line($"{_k.Activation()}(_hb);");
                w.Line($"// x {(pre ? "+=" : "= norm3(x +")} linear2[l] ({d}x{f}) @ hb + bias{(pre ? "" : ")")}");
                w.Line($"MatVec({linear2}, _xb, _hb, w.DecLin2W, l * D * F);");
                w.Line($"{add}(_xb, w.DecLin2B.AsSpan(l * D, D));");
                w.Line($"{add}(_x, _xb);");
                if (!pre) w.Line(Norm(2, "_x", "_x"));
            }
            w.Line("_position = pos + 1;");
            w.Line();
            w.Line($"// logits ({v}) = generator ({v}x{d}) @ decoder.norm(x) + generator.bias");
            w.Line($"{norm}(_x, _x, w.DecFinalNormW, w.DecFinalNormB);");
            w.Line($"MatVec({generator}, _logits, _x, w.GeneratorW, 0);");
            w.Line($"{_k.Add(s.TargetVocabSize)}(_logits, w.GeneratorB);");
        }
        w.Line();
    }

    private void EmitAttention(SourceWriter w)
    {
        ModelShape s = _s;
        string attend = _k.AttendHead(), attendAt = _k.AttendHead(listed: true);
        w.Line($"/// <summary>xb2 (dim) = per head, softmax(q · k_t / sqrt({I(s.HeadDim)})) over cached positions t = 0..pos, weighted sum of v_t.</summary>");
        using (w.Block("private void CausalAttention(int layer, int pos)"))
        {
            w.Line("int layerBase = layer * MaxSequenceLength * ModelDim;");
            using (w.Block("for (int h = 0; h < Heads; h++)"))
            {
                w.Line($"{attend}(_qkv.AsSpan(h * HeadDim, HeadDim), _keyCache.AsSpan(layerBase + h * HeadDim), _valueCache.AsSpan(layerBase + h * HeadDim), ModelDim,");
                w.Line("    pos + 1, _scores.AsSpan(0, pos + 1), _xb2.AsSpan(h * HeadDim, HeadDim));");
            }
        }
        w.Line();
        w.Line($"/// <summary>xb2 (dim) = per head, softmax(q · k_j / sqrt({I(s.HeadDim)})) over the source's unpadded positions j, weighted sum of v_j.</summary>");
        using (w.Block("private void CrossAttention(int layer)"))
        {
            w.Line($"{_memory} m = _memory;");
            w.Line("int layerBase = layer * m.Length * ModelDim;");
            w.Line("ReadOnlySpan<int> keys = m.Keys.AsSpan(0, m.KeyCount);");
            using (w.Block("for (int h = 0; h < Heads; h++)"))
            {
                w.Line($"{attendAt}(_q.AsSpan(h * HeadDim, HeadDim), m.CrossKeys.AsSpan(layerBase + h * HeadDim), m.CrossValues.AsSpan(layerBase + h * HeadDim), ModelDim,");
                w.Line("    keys, _scores.AsSpan(0, m.KeyCount), _xb2.AsSpan(h * HeadDim, HeadDim));");
            }
        }
        w.Line();
    }
}
