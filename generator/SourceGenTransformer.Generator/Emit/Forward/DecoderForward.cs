using System;
using SourceGenTransformer.Generator.Emit.Kernels;
using SourceGenTransformer.Generator.Emit.Parallel;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Forward;

/// <summary>
/// Writes a decoder-only model's run state and forward pass (Llama, GPT-2): the KV cache and every activation buffer
/// with a shape comment, the pass for one token (decode) and for a block of tokens (prompt), read top to bottom like
/// llama2.c's <c>forward</c>, and the jobs they run on the worker pool.
/// </summary>
/// <remarks>
/// Parallelism: every matrix product is split by output rows, attention by heads (decode) or by (head, token) pairs
/// (prompt). Element-wise steps (norms, residual adds, activations, RoPE) stay on the calling thread in decoding, where
/// they are small; prompt blocks run SwiGLU and the residual adds inside the matrix jobs, on each part's own rows. No sum
/// is ever split, so results do not depend on the thread count.
/// </remarks>
internal sealed class DecoderForward
{
    private readonly ModelSpec _spec;
    private readonly ModelShape _s;
    private readonly KernelSet _k;
    private readonly bool _llama;
    private readonly Jobs _jobs = new();
    private readonly string _weights;

    // The queries' width and the attention output's buffers: ModelDim and the sub-block buffers, or QueryDim and buffers
    // of their own where a config.json's head_dim makes Heads x HeadDim differ from ModelDim.
    private readonly string _qd, _ao, _bao;

    public DecoderForward(ModelSpec spec, KernelSet kernels)
    {
        _spec = spec;
        _s = spec.Shape;
        _k = kernels;
        _llama = _s.Family == Family.Llama;
        _weights = spec.EnginePrefix + "Weights";
        bool own = _s.QueryDim != _s.ModelDim;
        _qd = own ? "QueryDim" : "ModelDim";
        _ao = own ? "_ao" : "_xb";
        _bao = own ? "_bao" : "_bxb";
    }

    /// <summary>Matrix arguments: the values (and Int8 scales) of <paramref name="count"/> weights of field w.F from offset.</summary>
    private string M(string field, string offset, string count) => KernelWriting.MatrixArguments(_s, "w." + field, offset, count);

    public void Emit(SourceWriter w)
    {
        ModelShape s = _s;
        w.Line("/// <summary>");
        w.Line("/// One sequence being decoded: the KV cache and every activation buffer, allocated once; the forward pass for one token");
        w.Line("/// and for a block of prompt tokens. Step allocates nothing.");
        w.Line("/// </summary>");
        w.Line(GeneratedCode);
        using (w.Block($"internal sealed class {_spec.EnginePrefix}Decoder : IParallelWork"))
        {
            EmitState(w);
            if (_llama) EmitRopeTables(w);
            if (_llama) EmitLlamaStep(w);
            else EmitGpt2Step(w);
            EmitClassify(w);
            if (_llama) EmitLlamaBlock(w);
            else EmitGpt2Block(w);
            w.Line("/// <summary>Runs <paramref name=\"job\"/> of <paramref name=\"layer\"/> on every part of the pool (see Execute).</summary>");
            using (w.Block("private void Run(Job job, int layer)"))
            {
                w.Line("_job = job;");
                w.Line("_layer = layer;");
                w.Line("_pool.Run(this);");
            }
            w.Line();
            _jobs.Emit(w);
        }
        w.Line();
    }

    private void EmitState(SourceWriter w)
    {
        w.Line($"private readonly {_weights} _w;");
        w.Line("private readonly WorkerPool _pool;");
        w.Line("private int _position;");
        w.Line("private Job _job;");
        w.Line("private int _layer, _start, _tokens; // the job's layer, the first position and the token count of the pass");
        w.Line("private readonly float[] _x = new float[ModelDim];        // (dim) the residual stream at the current position");
        w.Line("private readonly float[] _xb = new float[ModelDim];       // (dim) a sub-block's normed input, then the attention output");
        w.Line("private readonly float[] _xb2 = new float[ModelDim];      // (dim) a sub-block's output before the residual add");
        w.Line("private readonly float[] _hb = new float[FeedForwardDim]; // (ffn) feed-forward hidden");
        if (_llama)
        {
            w.Line("private readonly float[] _hb2 = new float[FeedForwardDim]; // (ffn) feed-forward up projection");
            w.Line($"private readonly float[] _q = new float[{_qd}];         // ({(_qd == "ModelDim" ? "dim" : "heads * head_dim")}) queries of all heads");
            if (_ao != "_xb") w.Line("private readonly float[] _ao = new float[QueryDim];       // (heads * head_dim) the attention output");
        }
        else
        {
            w.Line("private readonly float[] _qkv = new float[QkvDim];        // (3 * dim) queries, keys, values from c_attn");
        }
        w.Line("private readonly float[] _att = new float[Heads * MaxSequenceLength]; // (heads, seq) attention weights");
        w.Line("private readonly float[] _logits = new float[VocabSize];  // (vocab) next-token logits");
        w.Line("private readonly float[] _keyCache = new float[Layers * MaxSequenceLength * KvDim];   // (layer, seq, kv_dim)");
        w.Line("private readonly float[] _valueCache = new float[Layers * MaxSequenceLength * KvDim]; // (layer, seq, kv_dim)");
        w.Line("// A block of prompt tokens: the same buffers with a leading (block) dimension.");
        w.Line("private readonly float[] _bx = new float[PromptBlock * ModelDim];        // (block, dim) residual streams");
        w.Line("private readonly float[] _bxb = new float[PromptBlock * ModelDim];       // (block, dim) normed inputs, then attention outputs");
        w.Line("private readonly float[] _bxb2 = new float[PromptBlock * ModelDim];      // (block, dim) sub-block outputs");
        w.Line("private readonly float[] _bhb = new float[PromptBlock * FeedForwardDim]; // (block, ffn) feed-forward hidden");
        if (_llama)
        {
            w.Line("private readonly float[] _bhb2 = new float[PromptBlock * FeedForwardDim]; // (block, ffn) up projections");
            w.Line($"private readonly float[] _bq = new float[PromptBlock * {_qd}];          // (block, {(_qd == "ModelDim" ? "dim" : "heads * head_dim")}) queries");
            if (_bao != "_bxb") w.Line("private readonly float[] _bao = new float[PromptBlock * QueryDim];       // (block, heads * head_dim) attention outputs");
        }
        else
        {
            w.Line("private readonly float[] _bqkv = new float[PromptBlock * QkvDim];          // (block, 3 * dim) c_attn outputs");
        }
        w.Line("// Block attention scratch per part (AttendBlock): score rows, one key head's keys and values.");
        w.Line("private readonly float[] _bscores, _bkeysT, _bvaluesG;");
        w.Line();
        using (w.Block($"public {_spec.EnginePrefix}Decoder({_weights} weights, WorkerPool pool)"))
        {
            w.Line("_w = weights;");
            w.Line("_pool = pool;");
            w.Line($"_bscores = new float[pool.Threads * {AttentionKernelsEmitter.ScoreBufferLength}];");
            w.Line($"_bkeysT = new float[pool.Threads * {AttentionKernelsEmitter.TransposedKeysLength}];");
            w.Line($"_bvaluesG = new float[pool.Threads * {AttentionKernelsEmitter.GatheredValuesLength}];");
        }
        w.Line();
        w.Line("/// <summary>Tokens consumed so far: the position the next token will take.</summary>");
        w.Line("public int Position => _position;");
        w.Line();
        w.Line("/// <summary>The next-token logits (VocabSize) <see cref=\"Classify\"/> wrote.</summary>");
        w.Line("public float[] Logits => _logits;");
        w.Line();
        w.Line("/// <summary>Forgets every consumed token. The cache is not cleared: a row is always written before it is read.</summary>");
        w.Line("public void Reset() => _position = 0;");
        w.Line();
        w.Line("/// <summary>Forgets the tokens from <paramref name=\"position\"/> on; the cached rows before it stay as they are.</summary>");
        w.Line("public void Rewind(int position) => _position = position;");
        w.Line();
        w.Line("/// <summary>A new decoder on the same weights and pool holding a copy of this one's cached positions, position and logits.</summary>");
        using (w.Block($"public {_spec.EnginePrefix}Decoder Fork()"))
        {
            w.Line($"var copy = new {_spec.EnginePrefix}Decoder(_w, _pool);");
            w.Line("int rows = _position * KvDim;");
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line("int at = l * MaxSequenceLength * KvDim;");
                w.Line("global::System.Array.Copy(_keyCache, at, copy._keyCache, at, rows);");
                w.Line("global::System.Array.Copy(_valueCache, at, copy._valueCache, at, rows);");
            }
            w.Line("_logits.AsSpan().CopyTo(copy._logits);");
            w.Line("_x.AsSpan().CopyTo(copy._x);");
            w.Line("copy._position = _position;");
            w.Line("return copy;");
        }
        w.Line();
    }

    private void EmitRopeTables(SourceWriter w)
    {
        ModelShape s0 = _s;
        w.Line("/// <summary>cos (MaxSequenceLength, HeadDim / 2) of pos * theta^(-2i/HeadDim), computed once, in float32 as PyTorch does.</summary>");
        w.Line("private static readonly float[] RopeCos = RopeTable(cos: true);");
        w.Line("/// <summary>sin (MaxSequenceLength, HeadDim / 2), as <see cref=\"RopeCos\"/>.</summary>");
        w.Line("private static readonly float[] RopeSin = RopeTable(cos: false);");
        w.Line();
        using (w.Block("private static float[] RopeTable(bool cos)"))
        {
            w.Line(s0.RopeDim == s0.HeadDim ? "const int Half = HeadDim / 2;" : $"const int Half = {I(s0.RopeHalf)}; // partial_rotary_factor: the first {I(s0.RopeDim)} of each head's {I(s0.HeadDim)} dimensions rotate");
            w.Line("var table = new float[MaxSequenceLength * Half];");
            using (w.Block("for (int i = 0; i < Half; i++)"))
            {
                w.Line("// inv_freq = 1 / theta^(2i / head_dim), then angle = pos * inv_freq: both float32, like Hugging Face.");
                w.Line(s0.RopeDim == s0.HeadDim ? "float invFreq = 1f / MathF.Pow(RopeTheta, 2 * i / (float)HeadDim);" : $"float invFreq = 1f / MathF.Pow(RopeTheta, 2 * i / (float){I(s0.RopeDim)});");
                if (_s.RopeScaleFactor > 0f)
                {
                    ModelShape s = _s;
                    w.Line($"// Llama 3 scaling (rope_type llama3: factor {Literal(s.RopeScaleFactor)}, low_freq_factor {Literal(s.RopeLowFreqFactor)},");
                    w.Line($"// high_freq_factor {Literal(s.RopeHighFreqFactor)}, original_max_position_embeddings {I(s.RopeOriginalLength)}), in float32 as transformers' _compute_llama3_parameters:");
                    w.Line("// long wavelengths are divided by the factor, short ones kept, and those between blended.");
                    w.Line($"const float Factor = {F(s.RopeScaleFactor)}, Low = {F(s.RopeLowFreqFactor)}, High = {F(s.RopeHighFreqFactor)}, Original = {I(s.RopeOriginalLength)};");
                    w.Line("// torch divides a scalar by a tensor as reciprocal(tensor) * scalar, and compares against the scalars in float32.");
                    w.Line("float wavelen = 1f / invFreq * (float)(2 * Math.PI);");
                    w.Line("float lowWavelen = (float)((double)Original / Low), highWavelen = (float)((double)Original / High);");
                    w.Line("float scaled = wavelen > lowWavelen ? invFreq / Factor : invFreq;");
                    w.Line("float smooth = (1f / wavelen * Original - Low) / (float)((double)High - Low);");
                    w.Line("if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) scaled = (1f - smooth) * scaled / Factor + smooth * scaled;");
                    w.Line("invFreq = scaled;");
                }
                using (w.Block("for (int pos = 0; pos < MaxSequenceLength; pos++)"))
                {
                    w.Line("float angle = pos * invFreq;");
                    w.Line("table[pos * Half + i] = (float)(cos ? Math.Cos(angle) : Math.Sin(angle));");
                }
            }
            w.Line("return table;");
        }
        w.Line();
    }

    // ---------------------------------------------------------------- one token

    private void EmitLlamaStep(SourceWriter w)
    {
        ModelShape s = _s;
        string d = I(s.ModelDim), kv = I(s.KvDim), f = I(s.FeedForwardDim), half = I(s.RopeHalf);
        string norm = _k.Norm(), add = _k.Add(s.ModelDim), rope = _k.Rope();
        string qkv = Qkv(), attention = Attention(), output = Out(), up = Up(), down = Down();
        w.Line("/// <summary>The forward pass of one token at <see cref=\"Position\"/>, up to the last residual stream in x; advances the position.</summary>");
        using (w.Block("public void Step(int token)"))
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int pos = _position;");
            w.Line("_start = pos;");
            w.Line($"// x ({d}) = token_embedding[token]");
            w.Line(EmbeddingRow(s, "token", "_x"));
            if (s.Gemma)
            {
                w.Line("// Gemma scales the embedding by sqrt(hidden_size), in float32");
                w.Line("for (int i = 0; i < ModelDim; i++) _x[i] *= EmbeddingScale;");
            }
            w.Line($"// This position's rotary angles: cos, sin ({half}).");
            w.Line($"{ReadOnlySpan} cos = RopeCos.AsSpan(pos * {half}, {half}), sin = RopeSin.AsSpan(pos * {half}, {half});");
            w.Line();
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line($"// xb ({d}) = rmsnorm(x) * input_layernorm[l]");
                w.Line($"{norm}(_xb, _x, w.AttentionNorm.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"// q ({d}) = wq[l] ({d}x{d}) @ xb; k, v ({kv}) = wk[l], wv[l] ({kv}x{d}) @ xb, into this position's cache row");
                w.Line($"Run({qkv}, l);");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * KvDim;");
                if (s.QkvBias)
                {
                    w.Line("// q += q_proj.bias[l]; k, v += k_proj.bias[l], v_proj.bias[l] (before RoPE, as Qwen2's Linear layers add them)");
                    w.Line($"{_k.Add(s.QueryDim)}(_q, w.Bq.AsSpan(l * {_qd}, {_qd}));");
                    w.Line($"{_k.Add(s.KvDim)}(_keyCache.AsSpan(cacheRow, KvDim), w.Bk.AsSpan(l * KvDim, KvDim));");
                    w.Line($"{_k.Add(s.KvDim)}(_valueCache.AsSpan(cacheRow, KvDim), w.Bv.AsSpan(l * KvDim, KvDim));");
                }
                if (s.QkNorm)
                {
                    w.Line("// q_norm, k_norm: an RMSNorm over each head of q and k (before RoPE, as Qwen3)");
                    w.Line("for (int h = 0; h < Heads; h++)");
                    w.Line($"    {_k.HeadNorm()}(_q.AsSpan(h * HeadDim, HeadDim), _q.AsSpan(h * HeadDim, HeadDim), w.QNorm.AsSpan(l * HeadDim, HeadDim));");
                    w.Line("for (int h = 0; h < KvHeads; h++)");
                    w.Line($"    {_k.HeadNorm()}(_keyCache.AsSpan(cacheRow + h * HeadDim, HeadDim), _keyCache.AsSpan(cacheRow + h * HeadDim, HeadDim), w.KNorm.AsSpan(l * HeadDim, HeadDim));");
                }
                w.Line($"// RoPE: rotate q ({I(s.Heads)} heads) and k ({I(s.KvHeads)} heads) by this position's angles");
                w.Line($"{rope}(_q, Heads, cos, sin);");
                w.Line($"{rope}(_keyCache.AsSpan(cacheRow, KvDim), KvHeads, cos, sin);");
                w.Line($"// xb ({d}) = attention of q over the cached positions 0..pos");
                w.Line($"Run({attention}, l);");
                w.Line($"// x ({d}) += wo[l] ({d}x{d}) @ xb{(s.OutBias ? " + o_proj.bias[l]" : "")}");
                w.Line($"Run({output}, l);");
                if (s.OutBias) w.Line($"{add}(_xb2, w.Bo.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"{add}(_x, _xb2);");
                w.Line();
                w.Line($"// xb ({d}) = rmsnorm(x) * post_attention_layernorm[l]");
                w.Line($"{norm}(_xb, _x, w.FfnNorm.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"// hb ({f}) = gate[l] ({f}x{d}) @ xb; hb2 ({f}) = up[l] ({f}x{d}) @ xb");
                w.Line($"Run({up}, l);");
                if (s.MlpBias)
                {
                    w.Line("// hb += gate_proj.bias[l]; hb2 += up_proj.bias[l] (mlp_bias)");
                    w.Line($"{_k.Add(s.FeedForwardDim)}(_hb, w.BGate.AsSpan(l * FeedForwardDim, FeedForwardDim));");
                    w.Line($"{_k.Add(s.FeedForwardDim)}(_hb2, w.BUp.AsSpan(l * FeedForwardDim, FeedForwardDim));");
                }
                w.Line(s.Activation == Act.GeGlu ? "// hb = gelu_tanh(hb) * hb2" : "// hb = silu(hb) * hb2");
                w.Line($"{_k.Activation()}(_hb, _hb2);");
                w.Line($"// x ({d}) += down[l] ({d}x{f}) @ hb{(s.MlpBias ? " + down_proj.bias[l]" : "")}");
                w.Line($"Run({down}, l);");
                if (s.MlpBias) w.Line($"{add}(_xb2, w.BDown.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"{add}(_x, _xb2);");
            }
            w.Line("_position = pos + 1;");
        }
        w.Line();
    }

    private void EmitGpt2Step(SourceWriter w)
    {
        ModelShape s = _s;
        string d = I(s.ModelDim), qkvDim = I(s.QkvDim), f = I(s.FeedForwardDim);
        string norm = _k.Norm(), add = _k.Add(s.ModelDim);
        string qkv = Qkv(), attention = Attention(), output = Out(), up = Up(), down = Down();
        w.Line("/// <summary>The forward pass of one token at <see cref=\"Position\"/>, up to the last residual stream in x; advances the position.</summary>");
        using (w.Block("public void Step(int token)"))
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int pos = _position;");
            w.Line("_start = pos;");
            w.Line($"// x ({d}) = wte[token] + wpe[pos]");
            w.Line(EmbeddingRow(s, "token", "_x"));
            w.Line($"{add}(_x, w.PositionEmbedding.AsSpan(pos * ModelDim, ModelDim));");
            w.Line();
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line($"// xb ({d}) = layernorm(x; ln_1[l])");
                w.Line($"{norm}(_xb, _x, w.Ln1Weight.AsSpan(l * ModelDim, ModelDim), w.Ln1Bias.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"// qkv ({qkvDim}) = c_attn[l] ({qkvDim}x{d}) @ xb + c_attn.bias[l]");
                w.Line($"Run({qkv}, l);");
                w.Line($"{_k.Add(s.QkvDim)}(_qkv, w.Bqkv.AsSpan(l * QkvDim, QkvDim));");
                w.Line($"// k, v ({d}) go into this position's cache row");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * KvDim;");
                w.Line("_qkv.AsSpan(ModelDim, KvDim).CopyTo(_keyCache.AsSpan(cacheRow, KvDim));");
                w.Line("_qkv.AsSpan(ModelDim + KvDim, KvDim).CopyTo(_valueCache.AsSpan(cacheRow, KvDim));");
                w.Line($"// xb ({d}) = attention of q over the cached positions 0..pos");
                w.Line($"Run({attention}, l);");
                w.Line($"// x ({d}) += c_proj[l] ({d}x{d}) @ xb + c_proj.bias[l]");
                w.Line($"Run({output}, l);");
                w.Line($"{add}(_xb2, w.Bo.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"{add}(_x, _xb2);");
                w.Line();
                w.Line($"// xb ({d}) = layernorm(x; ln_2[l])");
                w.Line($"{norm}(_xb, _x, w.Ln2Weight.AsSpan(l * ModelDim, ModelDim), w.Ln2Bias.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"// hb ({f}) = {s.Activation}(c_fc[l] ({f}x{d}) @ xb + c_fc.bias[l])");
                w.Line($"Run({up}, l);");
                w.Line($"{_k.Add(s.FeedForwardDim)}(_hb, w.BFc.AsSpan(l * FeedForwardDim, FeedForwardDim));");
                w.Line($"{_k.Activation()}(_hb);");
                w.Line($"// x ({d}) += mlp.c_proj[l] ({d}x{f}) @ hb + mlp.c_proj.bias[l]");
                w.Line($"Run({down}, l);");
                w.Line($"{add}(_xb2, w.BProj.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"{add}(_x, _xb2);");
            }
            w.Line("_position = pos + 1;");
        }
        w.Line();
    }

    private void EmitClassify(SourceWriter w)
    {
        ModelShape s = _s;
        string classify = _jobs.Add("Classifier", $"logits ({I(s.VocabSize)}) = classifier ({I(s.VocabSize)}x{I(s.ModelDim)}) @ x, this part's rows.", jw =>
        {
            int split = s.ClassifierRowsKernel ? 4 : Jobs.SplitRows(s, s.VocabSize, 4);
            string kernel = _k.Classifier();
            jw.Line($"{_weights} w = _w;");
            Jobs.EmitRowClaims(jw, s, s.VocabSize, s.ModelDim, split, () =>
                jw.Line($"{kernel}(_logits, _x, {M("Classifier", "0", "VocabSize * ModelDim")}, rs, re);"));
        });
        w.Line($"/// <summary>logits ({I(s.VocabSize)}) = classifier ({I(s.VocabSize)}x{I(s.ModelDim)}) @ norm(x), x being the last position's residual stream.</summary>");
        using (w.Block("public void Classify()"))
        {
            if (_llama) w.Line($"{_k.Norm()}(_x, _x, _w.FinalNorm);");
            else w.Line($"{_k.Norm()}(_x, _x, _w.LnFWeight, _w.LnFBias);");
            w.Line($"Run({classify}, 0);");
        }
        w.Line();
    }

    // ---------------------------------------------------------------- a block of tokens

    private void EmitLlamaBlock(SourceWriter w)
    {
        ModelShape s = _s;
        string norm = _k.Norm(), rope = _k.Rope(), half = I(s.RopeHalf);
        string qkv = BlockQkv(), attention = BlockAttention(), output = BlockOut(), up = BlockUp(), down = BlockDown();
        w.Line("/// <summary>");
        w.Line("/// The forward pass of a block of tokens at positions Position.., every layer as matrix-matrix products over the");
        w.Line("/// block; leaves the last token's residual stream in x and advances the position.");
        w.Line("/// </summary>");
        using (w.Block("public void StepBlock(ReadOnlySpan<int> tokens)"))
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int n = tokens.Length, start = _position;");
            w.Line("_start = start;");
            w.Line("_tokens = n;");
            w.Line("// bx (n, dim) = token_embedding[tokens]");
            w.Line("for (int t = 0; t < n; t++)");
            w.Line("    " + EmbeddingRow(s, "tokens[t]", "_bx.AsSpan(t * ModelDim, ModelDim)"));
            if (s.Gemma)
            {
                w.Line("// Gemma scales the embedding by sqrt(hidden_size), in float32");
                w.Line("for (int i = 0; i < n * ModelDim; i++) _bx[i] *= EmbeddingScale;");
            }
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line("// bxb = rmsnorm(bx) row by row");
                w.Line("for (int t = 0; t < n; t++)");
                w.Line($"    {norm}(_bxb.AsSpan(t * ModelDim, ModelDim), _bx.AsSpan(t * ModelDim, ModelDim), w.AttentionNorm.AsSpan(l * ModelDim, ModelDim));");
                w.Line("// bq (n, dim) = bxb @ wqᵀ; k, v (n, kv_dim) = bxb @ wkᵀ, wvᵀ straight into the cache rows start..start+n");
                w.Line($"Run({qkv}, l);");
                w.Line((s.QkvBias ? "// The q, k, v biases, then " : "// ") + (s.QkNorm ? "q_norm and k_norm per head, then " : "") + "RoPE at each token's own position");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line("int pos = start + t;");
                    if (s.QkvBias)
                    {
                        w.Line($"{_k.Add(s.QueryDim)}(_bq.AsSpan(t * {_qd}, {_qd}), w.Bq.AsSpan(l * {_qd}, {_qd}));");
                        w.Line($"{_k.Add(s.KvDim)}(_keyCache.AsSpan((l * MaxSequenceLength + pos) * KvDim, KvDim), w.Bk.AsSpan(l * KvDim, KvDim));");
                        w.Line($"{_k.Add(s.KvDim)}(_valueCache.AsSpan((l * MaxSequenceLength + pos) * KvDim, KvDim), w.Bv.AsSpan(l * KvDim, KvDim));");
                    }
                    w.Line($"{ReadOnlySpan} cos = RopeCos.AsSpan(pos * {half}, {half}), sin = RopeSin.AsSpan(pos * {half}, {half});");
                    if (s.QkNorm)
                    {
                        w.Line("int keys = (l * MaxSequenceLength + pos) * KvDim;");
                        w.Line("for (int h = 0; h < Heads; h++)");
                        w.Line($"    {_k.HeadNorm()}(_bq.AsSpan(t * {_qd} + h * HeadDim, HeadDim), _bq.AsSpan(t * {_qd} + h * HeadDim, HeadDim), w.QNorm.AsSpan(l * HeadDim, HeadDim));");
                        w.Line("for (int h = 0; h < KvHeads; h++)");
                        w.Line($"    {_k.HeadNorm()}(_keyCache.AsSpan(keys + h * HeadDim, HeadDim), _keyCache.AsSpan(keys + h * HeadDim, HeadDim), w.KNorm.AsSpan(l * HeadDim, HeadDim));");
                    }
                    w.Line($"{rope}(_bq.AsSpan(t * {_qd}, {_qd}), Heads, cos, sin);");
                    w.Line($"{rope}(_keyCache.AsSpan((l * MaxSequenceLength + pos) * KvDim, KvDim), KvHeads, cos, sin);");
                }
                w.Line("// bxb (n, dim) = causal attention: token t attends positions 0..start+t");
                w.Line($"Run({attention}, l);");
                w.Line("// bx += bxb @ woᵀ (the residual add on each part's rows, inside the job)");
                w.Line($"Run({output}, l);");
                w.Line("// bxb = rmsnorm(bx); bhb = silu(bxb @ gateᵀ) * (bxb @ upᵀ); bx += bhb @ downᵀ (SwiGLU and the residual add inside the jobs)");
                w.Line("for (int t = 0; t < n; t++)");
                w.Line($"    {norm}(_bxb.AsSpan(t * ModelDim, ModelDim), _bx.AsSpan(t * ModelDim, ModelDim), w.FfnNorm.AsSpan(l * ModelDim, ModelDim));");
                w.Line($"Run({up}, l);");
                w.Line($"Run({down}, l);");
            }
            w.Line("_bx.AsSpan((n - 1) * ModelDim, ModelDim).CopyTo(_x);");
            w.Line("_position = start + n;");
        }
        w.Line();
    }

    private void EmitGpt2Block(SourceWriter w)
    {
        ModelShape s = _s;
        string norm = _k.Norm(), add = _k.Add(s.ModelDim);
        string qkv = BlockQkv(), attention = BlockAttention(), output = BlockOut(), up = BlockUp(), down = BlockDown();
        w.Line("/// <summary>");
        w.Line("/// The forward pass of a block of tokens at positions Position.., every layer as matrix-matrix products over the");
        w.Line("/// block; leaves the last token's residual stream in x and advances the position.");
        w.Line("/// </summary>");
        using (w.Block("public void StepBlock(ReadOnlySpan<int> tokens)"))
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int n = tokens.Length, start = _position;");
            w.Line("_start = start;");
            w.Line("_tokens = n;");
            w.Line("// bx (n, dim) = wte[tokens] + wpe[start..start+n]");
            using (w.Block("for (int t = 0; t < n; t++)"))
            {
                w.Line(EmbeddingRow(s, "tokens[t]", "_bx.AsSpan(t * ModelDim, ModelDim)"));
                w.Line($"{add}(_bx.AsSpan(t * ModelDim, ModelDim), w.PositionEmbedding.AsSpan((start + t) * ModelDim, ModelDim));");
            }
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line("for (int t = 0; t < n; t++)");
                w.Line($"    {norm}(_bxb.AsSpan(t * ModelDim, ModelDim), _bx.AsSpan(t * ModelDim, ModelDim), w.Ln1Weight.AsSpan(l * ModelDim, ModelDim), w.Ln1Bias.AsSpan(l * ModelDim, ModelDim));");
                w.Line("// bqkv (n, 3 * dim) = bxb @ c_attnᵀ + bias; keys and values into the cache rows start..start+n");
                w.Line($"Run({qkv}, l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"{_k.Add(s.QkvDim)}(_bqkv.AsSpan(t * QkvDim, QkvDim), w.Bqkv.AsSpan(l * QkvDim, QkvDim));");
                    w.Line("int cacheRow = (l * MaxSequenceLength + start + t) * KvDim;");
                    w.Line("_bqkv.AsSpan(t * QkvDim + ModelDim, KvDim).CopyTo(_keyCache.AsSpan(cacheRow, KvDim));");
                    w.Line("_bqkv.AsSpan(t * QkvDim + ModelDim + KvDim, KvDim).CopyTo(_valueCache.AsSpan(cacheRow, KvDim));");
                }
                w.Line("// bxb (n, dim) = causal attention: token t attends positions 0..start+t");
                w.Line($"Run({attention}, l);");
                w.Line("// bx += bxb @ c_projᵀ + bias; bxb = layernorm(bx; ln_2)");
                w.Line($"Run({output}, l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"{add}(_bxb2.AsSpan(t * ModelDim, ModelDim), w.Bo.AsSpan(l * ModelDim, ModelDim));");
                    w.Line($"{add}(_bx.AsSpan(t * ModelDim, ModelDim), _bxb2.AsSpan(t * ModelDim, ModelDim));");
                    w.Line($"{norm}(_bxb.AsSpan(t * ModelDim, ModelDim), _bx.AsSpan(t * ModelDim, ModelDim), w.Ln2Weight.AsSpan(l * ModelDim, ModelDim), w.Ln2Bias.AsSpan(l * ModelDim, ModelDim));");
                }
                w.Line($"// bhb (n, ffn) = {s.Activation}(bxb @ c_fcᵀ + bias)");
                w.Line($"Run({up}, l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"{_k.Add(s.FeedForwardDim)}(_bhb.AsSpan(t * FeedForwardDim, FeedForwardDim), w.BFc.AsSpan(l * FeedForwardDim, FeedForwardDim));");
                    w.Line($"{_k.Activation()}(_bhb.AsSpan(t * FeedForwardDim, FeedForwardDim));");
                }
                w.Line("// bx += bhb @ mlp.c_projᵀ + bias");
                w.Line($"Run({down}, l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"{add}(_bxb2.AsSpan(t * ModelDim, ModelDim), w.BProj.AsSpan(l * ModelDim, ModelDim));");
                    w.Line($"{add}(_bx.AsSpan(t * ModelDim, ModelDim), _bxb2.AsSpan(t * ModelDim, ModelDim));");
                }
            }
            w.Line("_bx.AsSpan((n - 1) * ModelDim, ModelDim).CopyTo(_x);");
            w.Line("_position = start + n;");
        }
        w.Line();
    }

    // ---------------------------------------------------------------- the jobs

    /// <summary>A decode matrix-vector job over one product: this part's claimed rows.</summary>
    private void MatVecBody(SourceWriter w, int rows, int cols, string output, string input, string field, string offset)
    {
        string kernel = _k.MatVec(rows, cols);
        w.Line($"{_weights} w = _w;");
        w.Line("int l = _layer;");
        Jobs.EmitRowClaims(w, _s, rows, cols, Jobs.SplitRows(_s, rows, 4), () =>
            w.Line($"{kernel}({output}, {input}, {M(field, offset, $"{I(rows)} * {I(cols)}")}, rs, re);"));
    }

    /// <summary>
    /// Several matrix-vector products over the same input as one job: the parts split the rows of all of them together
    /// (q, k and v; gate and up), so a product of few panels does not leave one part idle while another finishes its
    /// extra panel. Each output row is still computed whole by one part, with the same kernel. Claims are multiples of
    /// the coarsest split; a product in panels must start on a whole panel of the concatenation (row-major kernels take
    /// any rows).
    /// </summary>
    private void MatVecsBody(SourceWriter w, string prelude, params (int Rows, int Cols, string Output, string Input, string Field, string Offset)[] products)
    {
        int split = 1, start = 0;
        foreach (var p in products) split = Math.Max(split, Jobs.SplitRows(_s, p.Rows, 4));
        foreach (var p in products)
        {
            if (_s.Panels(p.Rows) && start % 32 != 0)
                throw new InvalidOperationException($"{p.Field} is in panels but starts at row {start} of its job, not on a whole panel.");
            start += p.Rows;
        }
        w.Line($"{_weights} w = _w;");
        w.Line("int l = _layer;");
        if (prelude.Length > 0) w.Line(prelude);
        w.Line($"// The rows of {string.Join(", ", Array.ConvertAll(products, p => p.Field))} one after another ({I(start)}), split together.");
        Jobs.EmitRowClaims(w, _s, start, products[0].Cols, split, () =>
        {
            int first = 0;
            foreach (var p in products)
            {
                string kernel = _k.MatVec(p.Rows, p.Cols);
                using (w.Block(""))
                {
                    w.Line(first == 0
                        ? $"int from = rs, to = Math.Min(re, {I(p.Rows)});"
                        : $"int from = Math.Max(rs - {I(first)}, 0), to = Math.Min(re - {I(first)}, {I(p.Rows)});");
                    w.Line($"if (from < to) {kernel}({p.Output}, {p.Input}, {M(p.Field, p.Offset, $"{I(p.Rows)} * {I(p.Cols)}")}, from, to);");
                }
                first += p.Rows;
            }
        });
    }

    private string Qkv()
    {
        ModelShape s = _s;
        if (!_llama)
            return _jobs.Add("Qkv", $"qkv ({I(s.QkvDim)}) = c_attn[l] @ xb, this part's rows.", w =>
                MatVecBody(w, s.QkvDim, s.ModelDim, "_qkv", "_xb", "Wqkv", "l * QkvDim * ModelDim"));
        return _jobs.Add("Qkv", "q = wq[l] @ xb; k, v = wk[l], wv[l] @ xb into this position's cache row: this part's rows of the three.", w =>
            MatVecsBody(w, "int cacheRow = (l * MaxSequenceLength + _start) * KvDim;",
                (s.QueryDim, s.ModelDim, "_q", "_xb", "Wq", $"l * {_qd} * ModelDim"),
                (s.KvDim, s.ModelDim, "_keyCache.AsSpan(cacheRow, KvDim)", "_xb", "Wk", "l * KvDim * ModelDim"),
                (s.KvDim, s.ModelDim, "_valueCache.AsSpan(cacheRow, KvDim)", "_xb", "Wv", "l * KvDim * ModelDim")));
    }

    private string Attention()
    {
        ModelShape s = _s;
        string kernel = _k.AttendHead();
        string query = _llama ? "_q.AsSpan(h * HeadDim, HeadDim)" : "_qkv.AsSpan(h * HeadDim, HeadDim)";
        string group = s.KvGroup == 1 ? "h" : $"h / {I(s.KvGroup)}";
        return _jobs.Add("Attention", $"xb = per head, softmax(q · k / sqrt({I(s.HeadDim)})) over the cached positions 0..pos, weighted sum of v: this part's heads.", w =>
        {
            w.Line("int pos = _start, layerBase = _layer * MaxSequenceLength * KvDim;");
            if (s.SlidingWindow > 0)
                w.Line($"// The sliding window: the query attends positions first..pos, the last {I(s.SlidingWindow)} at most.");
            w.Line(s.SlidingWindow > 0 ? "int first = Math.Max(pos + 1 - SlidingWindow, 0), count = pos + 1 - first;" : "const int first = 0; int count = pos + 1;");
            w.Line("(int hs, int he) = WorkerPool.Range(Heads, 1, part, parts);");
            using (w.Block("for (int h = hs; h < he; h++)"))
            {
                w.Line($"// Query head h reads key/value head {group}{(s.KvGroup == 1 ? "" : $" ({I(s.KvGroup)} query heads share each)")}.");
                w.Line($"int kvOffset = layerBase + first * KvDim + {group} * HeadDim;");
                w.Line($"{kernel}({query}, _keyCache.AsSpan(kvOffset), _valueCache.AsSpan(kvOffset), KvDim, count,");
                w.Line($"    _att.AsSpan(h * MaxSequenceLength, count), {_ao}.AsSpan(h * HeadDim, HeadDim));");
            }
        });
    }

    private string Out()
    {
        ModelShape s = _s;
        return _jobs.Add("Out", $"xb2 ({I(s.ModelDim)}) = {(_llama ? "wo" : "c_proj")}[l] @ xb, this part's rows.", w =>
            MatVecBody(w, s.ModelDim, s.QueryDim, "_xb2", _ao, "Wo", $"l * ModelDim * {_qd}"));
    }

    private string Up()
    {
        ModelShape s = _s;
        if (!_llama)
            return _jobs.Add("Up", $"hb ({I(s.FeedForwardDim)}) = c_fc[l] @ xb, this part's rows.", w =>
                MatVecBody(w, s.FeedForwardDim, s.ModelDim, "_hb", "_xb", "WFc", "l * FeedForwardDim * ModelDim"));
        return _jobs.Add("Up", "hb = gate[l] @ xb; hb2 = up[l] @ xb: this part's rows of the two.", w =>
            MatVecsBody(w, "",
                (s.FeedForwardDim, s.ModelDim, "_hb", "_xb", "WGate", "l * FeedForwardDim * ModelDim"),
                (s.FeedForwardDim, s.ModelDim, "_hb2", "_xb", "WUp", "l * FeedForwardDim * ModelDim")));
    }

    private string Down()
    {
        ModelShape s = _s;
        return _jobs.Add("Down", $"xb2 ({I(s.ModelDim)}) = {(_llama ? "down" : "mlp.c_proj")}[l] @ hb, this part's rows.", w =>
            MatVecBody(w, s.ModelDim, s.FeedForwardDim, "_xb2", "_hb", _llama ? "WDown" : "WProj", "l * ModelDim * FeedForwardDim"));
    }

    /// <summary>A prompt matrix-matrix product over this part's fixed share of the rows (whole panels where they apply).</summary>
    private void MatMulBody(SourceWriter w, int rows, int cols, string output, string input, string field, string offset, bool declare = true)
    {
        if (declare) w.Line($"(int rs, int re) = WorkerPool.Range({I(rows)}, {I(Jobs.SplitRows(_s, rows, 2))}, part, parts);");
        w.Line($"{_k.MatMul(rows, cols)}({output}, {input}, {M(field, offset, $"{I(rows)} * {I(cols)}")}, n, rs, re);");
    }

    /// <summary>
    /// The statement that writes the token embedding's row <paramref name="token"/> to <paramref name="destination"/>: a
    /// copy of float32 rows, or (<see cref="ModelShape.QuantisedEmbedding"/>) the row's blocks dequantised from their panels.
    /// </summary>
    private static string EmbeddingRow(ModelShape s, string token, string destination) => s.Precision switch
    {
        _ when !s.QuantisedEmbedding => $"w.TokenEmbedding.AsSpan({token} * ModelDim, ModelDim).CopyTo({destination});",
        Precision.Q4K or Precision.Q4_0 => $"w.TokenEmbedding.RowValues({token}, {destination});",
        _ => $"IntegerBlocks.Int8RowValues(w.TokenEmbedding, w.TokenEmbeddingScale, {token}, ModelDim, {I(s.VocabSize - s.VocabSize % 16)}, {destination});",
    };

    /// <summary>Prompt blocks of Llama: the residual add on this part's rows of every token, inside the job (no serial pass).</summary>
    private static void ResidualOnRows(SourceWriter w, string? bias = null)
    {
        if (bias is not null)
        {
            w.Line($"// This part's rows of every token: bxb2 += {bias}[l] first.");
            w.Line("for (int t = 0; t < n; t++)");
            w.Line($"    Ops.AddRows(_bxb2.AsSpan(t * ModelDim + rs, re - rs), w.{bias}.AsSpan(l * ModelDim + rs, re - rs));");
        }
        w.Line("// This part's rows of every token: bx += bxb2 (elementwise, so splitting by rows changes nothing).");
        w.Line("for (int t = 0; t < n; t++)");
        w.Line("    Ops.AddRows(_bx.AsSpan(t * ModelDim + rs, re - rs), _bxb2.AsSpan(t * ModelDim + rs, re - rs));");
    }

    private string BlockQkv()
    {
        ModelShape s = _s;
        if (!_llama)
            return _jobs.Add("BlockQkv", "bqkv (n, 3 * dim) = bxb @ c_attn[l]ᵀ, this part's rows.", w =>
            {
                w.Line($"{_weights} w = _w;");
                w.Line("int l = _layer, n = _tokens;");
                MatMulBody(w, s.QkvDim, s.ModelDim, "_bqkv", "_bxb", "Wqkv", "l * QkvDim * ModelDim");
            });
        return _jobs.Add("BlockQkv", "bq (n, dim) = bxb @ wq[l]ᵀ; k, v (n, kv_dim) = bxb @ wk[l]ᵀ, wv[l]ᵀ into the cache rows start..start+n: this part's rows.", w =>
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int l = _layer, n = _tokens;");
            w.Line("int cacheRow = (l * MaxSequenceLength + _start) * KvDim;");
            using (w.Block("")) MatMulBody(w, s.QueryDim, s.ModelDim, "_bq", "_bxb", "Wq", $"l * {_qd} * ModelDim");
            using (w.Block("")) MatMulBody(w, s.KvDim, s.ModelDim, "_keyCache.AsSpan(cacheRow, n * KvDim)", "_bxb", "Wk", "l * KvDim * ModelDim");
            using (w.Block("")) MatMulBody(w, s.KvDim, s.ModelDim, "_valueCache.AsSpan(cacheRow, n * KvDim)", "_bxb", "Wv", "l * KvDim * ModelDim");
        });
    }

    private string BlockAttention()
    {
        ModelShape s = _s;
        string layOut = _k.LayOutKeys(), attend = _k.AttendBlock();
        string queries = _llama ? "_bq" : "_bqkv", stride = _llama ? _qd : "QkvDim";
        string group = s.KvGroup == 1 ? "h" : $"h / {I(s.KvGroup)}";
        return _jobs.Add("BlockAttention", "bxb (n, dim) = causal attention of the block's queries: this part's (head, token) pairs.", w =>
        {
            w.Line("int n = _tokens, layerBase = _layer * MaxSequenceLength * KvDim;");
            w.Line("// (head, token) pairs, head-major: each part takes whole runs of one head's tokens, and lays out each key head");
            w.Line("// it meets once: every position up to the block's last (a token reads only its causal prefix).");
            w.Line("(int ps, int pe) = WorkerPool.Range(n * Heads, 1, part, parts);");
            w.Line($"{Span} keysT = _bkeysT.AsSpan(part * {AttentionKernelsEmitter.TransposedKeysLength}, {AttentionKernelsEmitter.TransposedKeysLength});");
            w.Line($"{Span} valuesG = _bvaluesG.AsSpan(part * {AttentionKernelsEmitter.GatheredValuesLength}, {AttentionKernelsEmitter.GatheredValuesLength});");
            w.Line($"{Span} scores = _bscores.AsSpan(part * {AttentionKernelsEmitter.ScoreBufferLength}, {AttentionKernelsEmitter.ScoreBufferLength});");
            w.Line("int laidOut = -1;");
            using (w.Block("for (int h = ps / n; h * n < pe; h++)"))
            {
                w.Line("int t0 = Math.Max(ps - h * n, 0), t1 = Math.Min(pe - h * n, n);");
                using (w.Block($"if ({group} != laidOut)"))
                {
                    w.Line($"laidOut = {group};");
                    w.Line($"int kvOffset = layerBase + {group} * HeadDim;");
                    w.Line($"{layOut}(_keyCache.AsSpan(kvOffset), _valueCache.AsSpan(kvOffset), KvDim, _start + n, keysT, valuesG);");
                }
                w.Line($"{attend}({queries}.AsSpan(h * HeadDim), {stride}, {_bao}.AsSpan(h * HeadDim), {_qd}, t0, t1, _start, causal: true, keysT, valuesG, scores);");
            }
        });
    }

    private string BlockOut()
    {
        ModelShape s = _s;
        return _jobs.Add("BlockOut", $"bxb2 (n, dim) = bxb @ {(_llama ? "wo" : "c_proj")}[l]ᵀ{(_llama ? ", then bx += bxb2" : "")}: this part's rows.", w =>
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int l = _layer, n = _tokens;");
            MatMulBody(w, s.ModelDim, s.QueryDim, "_bxb2", _bao, "Wo", $"l * ModelDim * {_qd}");
            if (_llama) ResidualOnRows(w, s.OutBias ? "Bo" : null);
        });
    }

    private string BlockUp()
    {
        ModelShape s = _s;
        if (!_llama)
            return _jobs.Add("BlockUp", "bhb (n, ffn) = bxb @ c_fc[l]ᵀ, this part's rows.", w =>
            {
                w.Line($"{_weights} w = _w;");
                w.Line("int l = _layer, n = _tokens;");
                MatMulBody(w, s.FeedForwardDim, s.ModelDim, "_bhb", "_bxb", "WFc", "l * FeedForwardDim * ModelDim");
            });
        return _jobs.Add("BlockUp", "bhb = silu(bxb @ gate[l]ᵀ) * (bxb @ up[l]ᵀ): this part's rows.", w =>
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int l = _layer, n = _tokens;");
            MatMulBody(w, s.FeedForwardDim, s.ModelDim, "_bhb", "_bxb", "WGate", "l * FeedForwardDim * ModelDim");
            MatMulBody(w, s.FeedForwardDim, s.ModelDim, "_bhb2", "_bxb", "WUp", "l * FeedForwardDim * ModelDim", declare: false);
            if (s.MlpBias)
            {
                w.Line("// This part's rows of every token: bhb += gate_proj.bias[l], bhb2 += up_proj.bias[l] (mlp_bias).");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line("Ops.AddRows(_bhb.AsSpan(t * FeedForwardDim + rs, re - rs), w.BGate.AsSpan(l * FeedForwardDim + rs, re - rs));");
                    w.Line("Ops.AddRows(_bhb2.AsSpan(t * FeedForwardDim + rs, re - rs), w.BUp.AsSpan(l * FeedForwardDim + rs, re - rs));");
                }
            }
            w.Line("// This part's rows of every token: bhb = silu(bhb) * bhb2 (elementwise, so splitting by rows changes nothing).");
            w.Line("for (int t = 0; t < n; t++)");
            w.Line($"    Ops.{(s.Activation == Act.GeGlu ? "GeGluRows" : "SwiGluRows")}(_bhb.AsSpan(t * FeedForwardDim + rs, re - rs), _bhb2.AsSpan(t * FeedForwardDim + rs, re - rs));");
        });
    }

    private string BlockDown()
    {
        ModelShape s = _s;
        return _jobs.Add("BlockDown", $"bxb2 (n, dim) = bhb @ {(_llama ? "down" : "mlp.c_proj")}[l]ᵀ{(_llama ? ", then bx += bxb2" : "")}: this part's rows.", w =>
        {
            w.Line($"{_weights} w = _w;");
            w.Line("int l = _layer, n = _tokens;");
            MatMulBody(w, s.ModelDim, s.FeedForwardDim, "_bxb2", "_bhb", _llama ? "WDown" : "WProj", "l * ModelDim * FeedForwardDim");
            if (_llama) ResidualOnRows(w, s.MlpBias ? "BDown" : null);
        });
    }
}
