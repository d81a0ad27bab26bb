using System;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.KernelEmitter;
using static SourceGenTransformer.Generator.Emit.ModelEmitter;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// Writes the Session class of a decoder-only model: run state with a shape comment on every buffer, the forward
/// pass for one token (decode) and for a block of tokens (prompt), read top to bottom like the paper.
/// </summary>
/// <remarks>
/// Parallelism: every matrix product is split by output rows, and attention by heads (decode) or by (token, head)
/// pairs (prompt), across the model's <c>WorkerPool</c>. The session is the pool's work item: a job number and
/// the layer say what <c>Execute</c> runs. Element-wise steps (norms, residual adds, activations, RoPE) stay on
/// the calling thread: they are small. No sum is ever split, so results do not depend on the thread count.
/// </remarks>
internal static class SessionEmitter
{
    private const string Pool = "global::SourceGenTransformer.Runtime.WorkerPool";

    // Jobs that Execute runs; the same numbers in every generated session.
    private const int JobQkv = 1, JobAttention = 2, JobOut = 3, JobUp = 4, JobDown = 5, JobClassifier = 6;
    private const int BlockQkv = 11, BlockAttention = 12, BlockOut = 13, BlockUp = 14, BlockDown = 15;

    /// <summary>Prompt tokens processed together: each pass over the weights serves this many positions.</summary>
    public static int PromptBlock(ModelShape s) => Math.Min(128, s.MaxSequenceLength);

    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        bool llama = s.Family == Family.Llama;
        w.Line("/// <summary>");
        w.Line("/// One sequence being decoded: the KV cache and every activation buffer, allocated once when the session is");
        w.Line("/// created. <see cref=\"Forward(int)\"/> allocates nothing. Not thread-safe: use one session per thread (sessions");
        w.Line("/// of one model share its worker threads, taking turns).");
        w.Line("/// </summary>");
        w.Line(GeneratedCode);
        using (w.Block("public sealed class Session : global::SourceGenTransformer.IDecoderSession, global::SourceGenTransformer.Runtime.IParallelWork"))
        {
            w.Line($"/// <summary>Prompt tokens run together through each layer (<see cref=\"Forward(global::System.ReadOnlySpan{{int}})\"/>).</summary>");
            w.Line($"public const int PromptBlock = {I(PromptBlock(s))};");
            w.Line();
            w.Line("private readonly Weights _w;");
            w.Line($"private readonly {Pool} _pool;");
            w.Line("private int _position;");
            w.Line("private global::SourceGenTransformer.Runtime.SessionGuard _guard; // one call at a time: a second thread gets InvalidOperationException");
            w.Line("private int _job, _layer, _start, _tokens; // what Execute runs: the job, its layer, first position and token count");
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
            w.Line("// A block of prompt tokens: the same buffers with a leading (block) dimension.");
            w.Line("private readonly float[] _bx = new float[PromptBlock * ModelDim];        // (block, dim) residual streams");
            w.Line("private readonly float[] _bxb = new float[PromptBlock * ModelDim];       // (block, dim) normed inputs, then attention outputs");
            w.Line("private readonly float[] _bxb2 = new float[PromptBlock * ModelDim];      // (block, dim) sub-block outputs");
            w.Line("private readonly float[] _bhb = new float[PromptBlock * FeedForwardDim]; // (block, ffn) feed-forward hidden");
            if (llama)
            {
                w.Line("private readonly float[] _bhb2 = new float[PromptBlock * FeedForwardDim]; // (block, ffn) up projections");
                w.Line("private readonly float[] _bq = new float[PromptBlock * ModelDim];          // (block, dim) queries");
            }
            else
            {
                w.Line("private readonly float[] _bqkv = new float[PromptBlock * 3 * ModelDim];    // (block, 3 * dim) c_attn outputs");
            }
            w.Line("// Block attention scratch per part (AttentionEmitter.EmitQueries): score rows, one key head's keys and values.");
            w.Line("private readonly float[] _bscores, _bkeysT, _bvaluesG;");
            w.Line();
            w.Line($"internal Session(Weights weights, {Pool} pool)");
            using (w.Block(""))
            {
                w.Line("_w = weights;");
                w.Line("_pool = pool;");
                w.Line($"_bscores = new float[pool.Threads * {AttentionEmitter.ScoreBufferLength}];");
                w.Line($"_bkeysT = new float[pool.Threads * {AttentionEmitter.TransposedKeysLength}];");
                w.Line($"_bvaluesG = new float[pool.Threads * {AttentionEmitter.GatheredValuesLength}];");
            }
            w.Line();
            w.Line("/// <summary>Tokens consumed so far: the position the next token will take.</summary>");
            w.Line("public int Position => _position;");
            w.Line();

            w.Line("/// <summary>Consumes one token and returns the logits (VocabSize) for the next. The span is valid until the next call.</summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">The token is outside [0, VocabSize), or the session already holds MaxSequenceLength tokens.</exception>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>");
            using (w.Block("public global::System.ReadOnlySpan<float> Forward(int token)"))
            {
                w.Line($"if ((uint)token >= VocabSize) {Errors}.TokenOutOfRange(nameof(token), token, VocabSize);");
                w.Line($"if (_position >= MaxSequenceLength) {Errors}.ContextFull(nameof(token), _position, 1, MaxSequenceLength);");
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                {
                    w.Line("Step(token);");
                    w.Line("Logits();");
                }
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
                w.Line("return _logits;");
            }
            w.Line();

            w.Line("/// <summary>");
            w.Line("/// Consumes a block of tokens (a prompt) and returns the logits (VocabSize) after the last. Checks every token before");
            w.Line("/// consuming any. Runs <see cref=\"PromptBlock\"/> positions at a time as matrix-matrix products with causal attention");
            w.Line("/// over the block, so a prompt costs far less than the same tokens one by one; the logits agree with token-by-token");
            w.Line("/// decoding to float32 rounding (sums associate differently), not bit for bit.");
            w.Line("/// </summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentException\">The block is empty, holds a token outside [0, VocabSize), or would take the session past MaxSequenceLength.</exception>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>");
            using (w.Block("public global::System.ReadOnlySpan<float> Forward(global::System.ReadOnlySpan<int> tokens)"))
            {
                w.Line($"if (tokens.IsEmpty) {Errors}.EmptyTokens(nameof(tokens));");
                w.Line($"if (tokens.Length > MaxSequenceLength - _position) {Errors}.ContextFull(nameof(tokens), _position, tokens.Length, MaxSequenceLength);");
                using (w.Block("for (int i = 0; i < tokens.Length; i++)"))
                    w.Line($"if ((uint)tokens[i] >= VocabSize) {Errors}.TokenOutOfRange(nameof(tokens), i, tokens[i], VocabSize);");
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                {
                    using (w.Block("for (int i = 0; i < tokens.Length; i += PromptBlock)"))
                        w.Line("StepBlock(tokens.Slice(i, global::System.Math.Min(PromptBlock, tokens.Length - i)));");
                    w.Line("// Only the last position's logits are needed: its residual stream goes through the classifier.");
                    w.Line("Logits();");
                }
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
                w.Line("return _logits;");
            }
            w.Line();

            w.Line("/// <summary>Forgets every consumed token; the session starts a new sequence at position 0.</summary>");
            w.Line("/// <remarks>The cache is not cleared: a row is always written before it is read.</remarks>");
            using (w.Block("public void Reset()"))
            {
                w.Line("_guard.Enter();");
                w.Line("_position = 0;");
                w.Line("_guard.Exit();");
            }
            w.Line();

            w.Line("/// <summary>Runs <paramref name=\"job\"/> of <paramref name=\"layer\"/> on every worker (see Execute).</summary>");
            using (w.Block("private void Run(int job, int layer)"))
            {
                w.Line("_job = job;");
                w.Line("_layer = layer;");
                w.Line("_pool.Run(this);");
            }
            w.Line();

            if (llama) EmitLlamaStep(w, s);
            else EmitGpt2Step(w, s);
            EmitLogits(w, s);
            if (llama) EmitLlamaBlock(w, s);
            else EmitGpt2Block(w, s);
            EmitExecute(w, s);
        }
        w.Line();
    }

    private static string M(ModelShape s, string field, string offset, string count) => WeightsEmitter.MatrixArguments(s, "w." + field, offset, count);

    private static void EmitLlamaStep(SourceWriter w, ModelShape s)
    {
        string d = I(s.ModelDim), kv = I(s.KvDim), f = I(s.FeedForwardDim);
        string norm = NormName(s);
        int half = s.HeadDim / 2;
        w.Line("/// <summary>The forward pass for one token at <see cref=\"Position\"/>, up to the final residual stream in _x; advances the position.</summary>");
        using (w.Block("private void Step(int token)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int pos = _position;");
            w.Line("_start = pos;");
            w.Line($"// x ({d}) = token_embedding[token]");
            w.Line("new global::System.ReadOnlySpan<float>(w.TokenEmbedding, token * ModelDim, ModelDim).CopyTo(_x);");
            w.Line($"// This position's rotary angles: cos, sin ({I(half)}).");
            w.Line($"global::System.ReadOnlySpan<float> cos = {Ro("RopeCos", $"pos * {I(half)}", I(half))}, sin = {Ro("RopeSin", $"pos * {I(half)}", I(half))};");
            w.Line();
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line($"// xb ({d}) = rmsnorm(x) * input_layernorm[l]");
                w.Line($"Kernels.{norm}(_xb, _x, {Ro("w.AttentionNorm", "l * ModelDim", "ModelDim")});");
                w.Line($"// q ({d}) = wq[l] @ xb; k, v ({kv}) = wk[l], wv[l] @ xb, straight into this position's cache row (rows split across workers)");
                w.Line("Run(" + I(JobQkv) + ", l);");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * KvDim;");
                w.Line($"// RoPE: rotate q ({I(s.Heads)} heads) and k ({I(s.KvHeads)} heads) by this position's angles");
                w.Line("Kernels.Rope(_q, Heads, cos, sin);");
                w.Line($"Kernels.Rope({Rw("_keyCache", "cacheRow", "KvDim")}, KvHeads, cos, sin);");
                w.Line($"// xb ({d}) = causal attention of q over positions 0..pos (heads split across workers)");
                w.Line("Run(" + I(JobAttention) + ", l);");
                w.Line($"// x ({d}) += wo[l] ({d}x{d}) @ xb");
                w.Line("Run(" + I(JobOut) + ", l);");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
                w.Line();
                w.Line($"// xb ({d}) = rmsnorm(x) * post_attention_layernorm[l]");
                w.Line($"Kernels.{norm}(_xb, _x, {Ro("w.FfnNorm", "l * ModelDim", "ModelDim")});");
                w.Line($"// hb ({f}) = gate[l] ({f}x{d}) @ xb; hb2 ({f}) = up[l] ({f}x{d}) @ xb");
                w.Line("Run(" + I(JobUp) + ", l);");
                w.Line("// hb = silu(hb) * hb2");
                w.Line($"Kernels.{ActivationName(s)}(_hb, _hb2);");
                w.Line($"// x ({d}) += down[l] ({d}x{f}) @ hb");
                w.Line("Run(" + I(JobDown) + ", l);");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
            }
            w.Line("_position = pos + 1;");
        }
        w.Line();
    }

    private static void EmitGpt2Step(SourceWriter w, ModelShape s)
    {
        string d = I(s.ModelDim), qkv = I(s.QkvDim), f = I(s.FeedForwardDim);
        string norm = NormName(s);
        w.Line("/// <summary>The forward pass for one token at <see cref=\"Position\"/>, up to the final residual stream in _x; advances the position.</summary>");
        using (w.Block("private void Step(int token)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int pos = _position;");
            w.Line("_start = pos;");
            w.Line($"// x ({d}) = wte[token] + wpe[pos]");
            w.Line("new global::System.ReadOnlySpan<float>(w.TokenEmbedding, token * ModelDim, ModelDim).CopyTo(_x);");
            w.Line($"Kernels.{AddName(s.ModelDim)}(_x, {Ro("w.PositionEmbedding", "pos * ModelDim", "ModelDim")});");
            w.Line();
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line($"// xb ({d}) = layernorm(x; ln_1[l])");
                w.Line($"Kernels.{norm}(_xb, _x, {Ro("w.Ln1Weight", "l * ModelDim", "ModelDim")}, {Ro("w.Ln1Bias", "l * ModelDim", "ModelDim")});");
                w.Line($"// qkv ({qkv}) = c_attn[l] ({qkv}x{d}) @ xb + c_attn.bias[l]");
                w.Line("Run(" + I(JobQkv) + ", l);");
                w.Line($"Kernels.{AddName(s.QkvDim)}(_qkv, {Ro("w.Bqkv", "l * 3 * ModelDim", "3 * ModelDim")});");
                w.Line($"// k, v ({d}) go into this position's cache row");
                w.Line("int cacheRow = (l * MaxSequenceLength + pos) * KvDim;");
                w.Line($"{Ro("_qkv", "ModelDim", "KvDim")}.CopyTo({Rw("_keyCache", "cacheRow", "KvDim")});");
                w.Line($"{Ro("_qkv", "ModelDim + KvDim", "KvDim")}.CopyTo({Rw("_valueCache", "cacheRow", "KvDim")});");
                w.Line($"// xb ({d}) = causal attention of q over positions 0..pos (heads split across workers)");
                w.Line("Run(" + I(JobAttention) + ", l);");
                w.Line($"// x ({d}) += c_proj[l] ({d}x{d}) @ xb + c_proj.bias[l]");
                w.Line("Run(" + I(JobOut) + ", l);");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_xb2, {Ro("w.Bo", "l * ModelDim", "ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
                w.Line();
                w.Line($"// xb ({d}) = layernorm(x; ln_2[l])");
                w.Line($"Kernels.{norm}(_xb, _x, {Ro("w.Ln2Weight", "l * ModelDim", "ModelDim")}, {Ro("w.Ln2Bias", "l * ModelDim", "ModelDim")});");
                w.Line($"// hb ({f}) = {s.Activation}(c_fc[l] ({f}x{d}) @ xb + c_fc.bias[l])");
                w.Line("Run(" + I(JobUp) + ", l);");
                w.Line($"Kernels.{AddName(s.FeedForwardDim)}(_hb, {Ro("w.BFc", "l * FeedForwardDim", "FeedForwardDim")});");
                w.Line($"Kernels.{ActivationName(s)}(_hb);");
                w.Line($"// x ({d}) += mlp.c_proj[l] ({d}x{f}) @ hb + mlp.c_proj.bias[l]");
                w.Line("Run(" + I(JobDown) + ", l);");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_xb2, {Ro("w.BProj", "l * ModelDim", "ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb2);");
            }
            w.Line("_position = pos + 1;");
        }
        w.Line();
    }

    private static void EmitLogits(SourceWriter w, ModelShape s)
    {
        w.Line($"/// <summary>logits ({I(s.VocabSize)}) = classifier ({I(s.VocabSize)}x{I(s.ModelDim)}) @ norm(x), x being the last position's residual stream.</summary>");
        using (w.Block("private void Logits()"))
        {
            if (s.Family == Family.Llama) w.Line($"Kernels.{NormName(s)}(_x, _x, _w.FinalNorm);");
            else w.Line($"Kernels.{NormName(s)}(_x, _x, _w.LnFWeight, _w.LnFBias);");
            w.Line("Run(" + I(JobClassifier) + ", 0);");
        }
        w.Line();
    }

    private static void EmitLlamaBlock(SourceWriter w, ModelShape s)
    {
        string norm = NormName(s);
        int half = s.HeadDim / 2;
        w.Line("/// <summary>");
        w.Line("/// The forward pass for a block of tokens at positions Position.., every layer as matrix-matrix products over the");
        w.Line("/// block; leaves the last token's residual stream in _x and advances the position.");
        w.Line("/// </summary>");
        using (w.Block("private void StepBlock(global::System.ReadOnlySpan<int> tokens)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int n = tokens.Length, start = _position;");
            w.Line("_start = start;");
            w.Line("_tokens = n;");
            w.Line("// bx (n, dim) = token_embedding[tokens]");
            w.Line("for (int t = 0; t < n; t++)");
            w.Line($"    {Ro("w.TokenEmbedding", "tokens[t] * ModelDim", "ModelDim")}.CopyTo({Rw("_bx", "t * ModelDim", "ModelDim")});");
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line("// bxb = rmsnorm(bx) row by row");
                w.Line("for (int t = 0; t < n; t++)");
                w.Line($"    Kernels.{norm}({Rw("_bxb", "t * ModelDim", "ModelDim")}, {Ro("_bx", "t * ModelDim", "ModelDim")}, {Ro("w.AttentionNorm", "l * ModelDim", "ModelDim")});");
                w.Line("// bq (n, dim) = bxb @ wqᵀ; k, v (n, kv_dim) = bxb @ wkᵀ, wvᵀ straight into the cache rows start..start+n");
                w.Line("Run(" + I(BlockQkv) + ", l);");
                w.Line("// RoPE at each token's own position");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line("int pos = start + t;");
                    w.Line($"global::System.ReadOnlySpan<float> cos = {Ro("RopeCos", $"pos * {I(half)}", I(half))}, sin = {Ro("RopeSin", $"pos * {I(half)}", I(half))};");
                    w.Line($"Kernels.Rope({Rw("_bq", "t * ModelDim", "ModelDim")}, Heads, cos, sin);");
                    w.Line($"Kernels.Rope({Rw("_keyCache", "(l * MaxSequenceLength + pos) * KvDim", "KvDim")}, KvHeads, cos, sin);");
                }
                w.Line("// bxb (n, dim) = causal attention: token t attends positions 0..start+t ((token, head) pairs split across workers)");
                w.Line("Run(" + I(BlockAttention) + ", l);");
                w.Line("// bx += bxb @ woᵀ");
                w.Line("Run(" + I(BlockOut) + ", l); // and bx += that, on each worker's rows");
                w.Line("// bxb = rmsnorm(bx); bhb = silu(bxb @ gateᵀ) * (bxb @ upᵀ); bx += bhb @ downᵀ (SwiGLU and the residual add inside the jobs)");
                w.Line("for (int t = 0; t < n; t++)");
                w.Line($"    Kernels.{norm}({Rw("_bxb", "t * ModelDim", "ModelDim")}, {Ro("_bx", "t * ModelDim", "ModelDim")}, {Ro("w.FfnNorm", "l * ModelDim", "ModelDim")});");
                w.Line("Run(" + I(BlockUp) + ", l);");
                w.Line("Run(" + I(BlockDown) + ", l);");
            }
            w.Line($"{Ro("_bx", "(n - 1) * ModelDim", "ModelDim")}.CopyTo(_x);");
            w.Line("_position = start + n;");
        }
        w.Line();
    }

    private static void EmitGpt2Block(SourceWriter w, ModelShape s)
    {
        string norm = NormName(s);
        w.Line("/// <summary>");
        w.Line("/// The forward pass for a block of tokens at positions Position.., every layer as matrix-matrix products over the");
        w.Line("/// block; leaves the last token's residual stream in _x and advances the position.");
        w.Line("/// </summary>");
        using (w.Block("private void StepBlock(global::System.ReadOnlySpan<int> tokens)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int n = tokens.Length, start = _position;");
            w.Line("_start = start;");
            w.Line("_tokens = n;");
            w.Line("// bx (n, dim) = wte[tokens] + wpe[start..start+n]");
            using (w.Block("for (int t = 0; t < n; t++)"))
            {
                w.Line($"{Ro("w.TokenEmbedding", "tokens[t] * ModelDim", "ModelDim")}.CopyTo({Rw("_bx", "t * ModelDim", "ModelDim")});");
                w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("_bx", "t * ModelDim", "ModelDim")}, {Ro("w.PositionEmbedding", "(start + t) * ModelDim", "ModelDim")});");
            }
            using (w.Block("for (int l = 0; l < Layers; l++)"))
            {
                w.Line("for (int t = 0; t < n; t++)");
                w.Line($"    Kernels.{norm}({Rw("_bxb", "t * ModelDim", "ModelDim")}, {Ro("_bx", "t * ModelDim", "ModelDim")}, {Ro("w.Ln1Weight", "l * ModelDim", "ModelDim")}, {Ro("w.Ln1Bias", "l * ModelDim", "ModelDim")});");
                w.Line("// bqkv (n, 3 dim) = bxb @ c_attnᵀ + bias; keys and values go to the cache rows start..start+n");
                w.Line("Run(" + I(BlockQkv) + ", l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"Kernels.{AddName(s.QkvDim)}({Rw("_bqkv", "t * 3 * ModelDim", "3 * ModelDim")}, {Ro("w.Bqkv", "l * 3 * ModelDim", "3 * ModelDim")});");
                    w.Line("int cacheRow = (l * MaxSequenceLength + start + t) * KvDim;");
                    w.Line($"{Ro("_bqkv", "t * 3 * ModelDim + ModelDim", "KvDim")}.CopyTo({Rw("_keyCache", "cacheRow", "KvDim")});");
                    w.Line($"{Ro("_bqkv", "t * 3 * ModelDim + ModelDim + KvDim", "KvDim")}.CopyTo({Rw("_valueCache", "cacheRow", "KvDim")});");
                }
                w.Line("// bxb (n, dim) = causal attention: token t attends positions 0..start+t");
                w.Line("Run(" + I(BlockAttention) + ", l);");
                w.Line("Run(" + I(BlockOut) + ", l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("_bxb2", "t * ModelDim", "ModelDim")}, {Ro("w.Bo", "l * ModelDim", "ModelDim")});");
                    w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("_bx", "t * ModelDim", "ModelDim")}, {Ro("_bxb2", "t * ModelDim", "ModelDim")});");
                    w.Line($"Kernels.{norm}({Rw("_bxb", "t * ModelDim", "ModelDim")}, {Ro("_bx", "t * ModelDim", "ModelDim")}, {Ro("w.Ln2Weight", "l * ModelDim", "ModelDim")}, {Ro("w.Ln2Bias", "l * ModelDim", "ModelDim")});");
                }
                w.Line("Run(" + I(BlockUp) + ", l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"Kernels.{AddName(s.FeedForwardDim)}({Rw("_bhb", "t * FeedForwardDim", "FeedForwardDim")}, {Ro("w.BFc", "l * FeedForwardDim", "FeedForwardDim")});");
                    w.Line($"Kernels.{ActivationName(s)}({Rw("_bhb", "t * FeedForwardDim", "FeedForwardDim")});");
                }
                w.Line("Run(" + I(BlockDown) + ", l);");
                using (w.Block("for (int t = 0; t < n; t++)"))
                {
                    w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("_bxb2", "t * ModelDim", "ModelDim")}, {Ro("w.BProj", "l * ModelDim", "ModelDim")});");
                    w.Line($"Kernels.{AddName(s.ModelDim)}({Rw("_bx", "t * ModelDim", "ModelDim")}, {Ro("_bxb2", "t * ModelDim", "ModelDim")});");
                }
            }
            w.Line($"{Ro("_bx", "(n - 1) * ModelDim", "ModelDim")}.CopyTo(_x);");
            w.Line("_position = start + n;");
        }
        w.Line();
    }

    /// <summary>Writes Execute: the part of the current job that one worker runs.</summary>
    private static void EmitExecute(SourceWriter w, ModelShape s)
    {
        bool llama = s.Family == Family.Llama;
        string hd = I(s.HeadDim);
        float scale = (float)(1.0 / Math.Sqrt(s.HeadDim));

        // Panel kernels split on whole panels of 32 rows.
        // The classifier may have a row-major kernel of its own (ClassifierName).
        void MatVec(int rows, int cols, string output, string input, string field, string offset, bool classifier = false)
        {
            int split = classifier && s.ClassifierRowsKernel ? 4 : SplitRows(s, rows, 4);
            EmitRowClaims(w, s, rows, cols, split, () =>
                w.Line($"Kernels.{(classifier ? ClassifierName(s) : MatVecName(rows, cols))}({output}, {input}, {M(s, field, offset, $"{I(rows)} * {I(cols)}")}, rs, re);"));
        }
        // Several matrix-vector products over the same input as one job: the workers split the rows of all of them
        // together (q, k and v; gate and up), so a product of few panels does not leave one worker idle while the
        // other finishes its extra panel. Each output row is still computed whole by one worker, with the same kernel.
        // A job has one loop of row claims: the pool's tail cursor belongs to the run (WorkerPool.NextRows), so two
        // claim loops in one job would hand the second the first one's cursor and skip rows. Claims are multiples of the
        // coarsest split; a product in panels must start on a whole panel of the concatenation (row-major kernels take any rows).
        void MatVecs(params (int Rows, int Cols, string Output, string Input, string Field, string Offset)[] products)
        {
            int split = 1, start = 0;
            foreach (var p in products) split = Math.Max(split, SplitRows(s, p.Rows, 4));
            foreach (var p in products)
            {
                if (s.Panels(p.Rows) && start % 32 != 0)
                    throw new InvalidOperationException($"{p.Field} is in panels but starts at row {start} of its job, not on a whole panel.");
                start += p.Rows;
            }
            int total = 0;
            foreach (var p in products) total += p.Rows;
            w.Line($"// Rows of {string.Join(", ", System.Linq.Enumerable.Select(products, p => p.Field))} one after another ({I(total)}), split across the workers together.");
            EmitRowClaims(w, s, total, products[0].Cols, split, () =>
            {
                int first = 0;
                foreach (var p in products)
                {
                    using (w.Block(""))
                    {
                        w.Line($"int from = global::System.Math.Max(rs - {I(first)}, 0), to = global::System.Math.Min(re - {I(first)}, {I(p.Rows)});");
                        w.Line($"if (from < to) Kernels.{MatVecName(p.Rows, p.Cols)}({p.Output}, {p.Input}, {M(s, p.Field, p.Offset, $"{I(p.Rows)} * {I(p.Cols)}")}, from, to);");
                    }
                    first += p.Rows;
                }
            });
        }
        void MatMul(int rows, int cols, string output, string input, string field, string offset, bool declare = true)
        {
            if (declare) w.Line($"(int rs, int re) = {Pool}.Range({I(rows)}, {I(SplitRows(s, rows, 2))}, part, parts);");
            w.Line($"Kernels.{MatMulName(rows, cols)}({output}, {input}, {M(s, field, offset, $"{I(rows)} * {I(cols)}")}, n, rs, re);");
        }

        // Llama prompt blocks: the residual add on this worker's rows of every token, inside the job (no serial pass).
        void ResidualOnRows()
        {
            w.Line("// This worker's rows of every token: bx += bxb2 (elementwise, so splitting by rows changes nothing).");
            w.Line("for (int t = 0; t < n; t++)");
            w.Line($"    Kernels.AddRows({Rw("_bx", "t * ModelDim + rs", "re - rs")}, {Ro("_bxb2", "t * ModelDim + rs", "re - rs")});");
        }

        w.Line("/// <summary>Runs this worker's share of the current job: a range of matrix rows, or of attention heads.</summary>");
        using (w.Block("void global::SourceGenTransformer.Runtime.IParallelWork.Execute(int part, int parts)"))
        {
            w.Line("Weights w = _w;");
            w.Line("int l = _layer, n = _tokens;");
            w.Line($"const float Scale = {Literal(scale)}f; // 1 / sqrt(head_dim)");
            using (w.Block("switch (_job)"))
            {
                w.Line($"case {I(JobQkv)}:");
                using (w.Block(""))
                {
                    if (llama)
                    {
                        w.Line("int cacheRow = (l * MaxSequenceLength + _start) * KvDim;");
                        MatVecs((s.ModelDim, s.ModelDim, "_q", "_xb", "Wq", "l * ModelDim * ModelDim"),
                            (s.KvDim, s.ModelDim, Rw("_keyCache", "cacheRow", "KvDim"), "_xb", "Wk", "l * KvDim * ModelDim"),
                            (s.KvDim, s.ModelDim, Rw("_valueCache", "cacheRow", "KvDim"), "_xb", "Wv", "l * KvDim * ModelDim"));
                    }
                    else
                    {
                        MatVec(s.QkvDim, s.ModelDim, "_qkv", "_xb", "Wqkv", "l * 3 * ModelDim * ModelDim");
                    }
                    w.Line("break;");
                }
                w.Line($"case {I(JobAttention)}:");
                using (w.Block(""))
                {
                    w.Line("int pos = _start, layerBase = l * MaxSequenceLength * KvDim;");
                    w.Line("(int hs, int he) = " + Pool + ".Range(Heads, 1, part, parts);");
                    using (w.Block("for (int h = hs; h < he; h++)"))
                    {
                        w.Line($"int kvOffset = layerBase + h / {I(s.KvGroup)} * HeadDim;");
                        AttentionEmitter.EmitHead(w, s, llama ? Ro("_q", "h * HeadDim", "HeadDim") : Ro("_qkv", "h * HeadDim", "HeadDim"),
                            scores: Rw("_att", "h * MaxSequenceLength", "pos + 1"), count: "pos + 1",
                            keyAt: "kvOffset + i * KvDim", keys: "_keyCache", valueAt: "kvOffset + i * KvDim", values: "_valueCache",
                            output: Rw("_xb", "h * HeadDim", "HeadDim"));
                    }
                    w.Line("break;");
                }
                w.Line($"case {I(JobOut)}:");
                using (w.Block(""))
                {
                    MatVec(s.ModelDim, s.ModelDim, "_xb2", "_xb", "Wo", "l * ModelDim * ModelDim");
                    w.Line("break;");
                }
                w.Line($"case {I(JobUp)}:");
                using (w.Block(""))
                {
                    if (llama)
                    {
                        MatVecs((s.FeedForwardDim, s.ModelDim, "_hb", "_xb", "WGate", "l * FeedForwardDim * ModelDim"),
                            (s.FeedForwardDim, s.ModelDim, "_hb2", "_xb", "WUp", "l * FeedForwardDim * ModelDim"));
                    }
                    else
                    {
                        MatVec(s.FeedForwardDim, s.ModelDim, "_hb", "_xb", "WFc", "l * FeedForwardDim * ModelDim");
                    }
                    w.Line("break;");
                }
                w.Line($"case {I(JobDown)}:");
                using (w.Block(""))
                {
                    MatVec(s.ModelDim, s.FeedForwardDim, "_xb2", "_hb", llama ? "WDown" : "WProj", "l * ModelDim * FeedForwardDim");
                    w.Line("break;");
                }
                w.Line($"case {I(JobClassifier)}:");
                using (w.Block(""))
                {
                    MatVec(s.VocabSize, s.ModelDim, "_logits", "_x", "Classifier", "0", classifier: true);
                    w.Line("break;");
                }

                // Prompt blocks: the same jobs over n tokens.
                w.Line($"case {I(BlockQkv)}:");
                using (w.Block(""))
                {
                    if (llama)
                    {
                        w.Line("int cacheRow = (l * MaxSequenceLength + _start) * KvDim;");
                        using (w.Block("")) MatMul(s.ModelDim, s.ModelDim, "_bq", "_bxb", "Wq", "l * ModelDim * ModelDim");
                        using (w.Block("")) MatMul(s.KvDim, s.ModelDim, Rw("_keyCache", "cacheRow", "n * KvDim"), "_bxb", "Wk", "l * KvDim * ModelDim");
                        using (w.Block("")) MatMul(s.KvDim, s.ModelDim, Rw("_valueCache", "cacheRow", "n * KvDim"), "_bxb", "Wv", "l * KvDim * ModelDim");
                    }
                    else
                    {
                        MatMul(s.QkvDim, s.ModelDim, "_bqkv", "_bxb", "Wqkv", "l * 3 * ModelDim * ModelDim");
                    }
                    w.Line("break;");
                }
                w.Line($"case {I(BlockAttention)}:");
                using (w.Block(""))
                {
                    w.Line("int layerBase = l * MaxSequenceLength * KvDim;");
                    string query = llama ? "_bq" : "_bqkv";
                    string queryAt = llama ? "t * ModelDim + h * HeadDim" : "t * 3 * ModelDim + h * HeadDim";
                    w.Line("// (head, token) pairs, head-major: each worker takes whole runs of one head's tokens, and lays out each key");
                    w.Line("// head it meets once: every position up to the block's last (a token reads only its causal prefix).");
                    w.Line("(int ps, int pe) = " + Pool + ".Range(n * Heads, 1, part, parts);");
                    w.Line($"{Span} keysT = {Rw("_bkeysT", $"part * {AttentionEmitter.TransposedKeysLength}", AttentionEmitter.TransposedKeysLength)};");
                    w.Line($"{Span} valuesG = {Rw("_bvaluesG", $"part * {AttentionEmitter.GatheredValuesLength}", AttentionEmitter.GatheredValuesLength)};");
                    w.Line($"{Span} scores = {Rw("_bscores", $"part * {AttentionEmitter.ScoreBufferLength}", AttentionEmitter.ScoreBufferLength)};");
                    w.Line("int laidOut = -1;");
                    using (w.Block("for (int h = ps / n; h * n < pe; h++)"))
                    {
                        w.Line("int t0 = global::System.Math.Max(ps - h * n, 0), t1 = global::System.Math.Min(pe - h * n, n);");
                        w.Line($"int kvOffset = layerBase + h / {I(s.KvGroup)} * HeadDim;");
                        using (w.Block($"if (h / {I(s.KvGroup)} != laidOut)"))
                        {
                            w.Line($"laidOut = h / {I(s.KvGroup)};");
                            AttentionEmitter.EmitLayOutKeysAndValues(w, "keysT", "valuesG",
                                "_start + n", "kvOffset + i * KvDim", "_keyCache", "kvOffset + i * KvDim", "_valueCache");
                        }
                        AttentionEmitter.EmitQueries(w, s, "t0", "t1", query, queryAt, "_start + t + 1", "_bxb", "t * ModelDim + h * HeadDim",
                            "keysT", "valuesG", "scores");
                    }
                    w.Line("break;");
                }
                w.Line($"case {I(BlockOut)}:");
                using (w.Block(""))
                {
                    MatMul(s.ModelDim, s.ModelDim, "_bxb2", "_bxb", "Wo", "l * ModelDim * ModelDim");
                    if (llama) ResidualOnRows();
                    w.Line("break;");
                }
                w.Line($"case {I(BlockUp)}:");
                using (w.Block(""))
                {
                    if (llama)
                    {
                        MatMul(s.FeedForwardDim, s.ModelDim, "_bhb", "_bxb", "WGate", "l * FeedForwardDim * ModelDim");
                        MatMul(s.FeedForwardDim, s.ModelDim, "_bhb2", "_bxb", "WUp", "l * FeedForwardDim * ModelDim", declare: false);
                        w.Line("// This worker's rows of every token: bhb = silu(bhb) * bhb2 (elementwise, so splitting by rows changes nothing).");
                        w.Line("for (int t = 0; t < n; t++)");
                        w.Line($"    Kernels.SwiGluRows({Rw("_bhb", "t * FeedForwardDim + rs", "re - rs")}, {Ro("_bhb2", "t * FeedForwardDim + rs", "re - rs")});");
                    }
                    else
                    {
                        MatMul(s.FeedForwardDim, s.ModelDim, "_bhb", "_bxb", "WFc", "l * FeedForwardDim * ModelDim");
                    }
                    w.Line("break;");
                }
                w.Line($"case {I(BlockDown)}:");
                using (w.Block(""))
                {
                    MatMul(s.ModelDim, s.FeedForwardDim, "_bxb2", "_bhb", llama ? "WDown" : "WProj", "l * ModelDim * FeedForwardDim");
                    if (llama) ResidualOnRows();
                    w.Line("break;");
                }
            }
        }
    }
}
