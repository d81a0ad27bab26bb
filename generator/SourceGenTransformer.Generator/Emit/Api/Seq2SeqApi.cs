using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Api;

/// <summary>
/// The public surface of the original Transformer (Seq2Seq): Load, Encode (with its EncoderOutput), CreateSession and
/// the decoder Session, Translate (one source or a padded batch), beam search and Score.
/// </summary>
internal static class Seq2SeqApi
{
    private const string Options = "global::SourceGenTransformer.GenerationOptions";

    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        ModelApi.EmitPoolMembers(w, spec, "Encode on a disposed model throws");
        ModelApi.EmitLoad(w, spec,
        [
            "Loads the weights from a safetensors file holding the state_dict of the PyTorch translation tutorial's Seq2SeqTransformer",
            "(transformer.encoder.layers.{i}.self_attn.in_proj_weight, ..., src_tok_emb.embedding.weight, generator.weight). If",
            "positional_encoding.pos_embedding is present it is used (it is the table the model was trained with); otherwise the",
            "sinusoidal table is computed as the tutorial does. F32, F16 and BF16 tensors load.",
            "The model owns worker threads (<see cref=\"global::SourceGenTransformer.ModelOptions.Threads\"/>, default one per processor);",
            "dispose it to stop them.",
        ], llama2C: false);
        EncoderApi.EmitEncoderRental(w, spec);
        EmitEncode(w, spec);
        EmitTranslation(w, spec);
        EmitEncoderOutput(w, spec);
        EmitSession(w, spec);
    }

    private static void EmitEncode(SourceWriter w, ModelSpec spec)
    {
        string errors = Global.Errors, memory = spec.EngineType("Memory");
        w.Line("/// <summary>A disposed output's arrays, which the next <see cref=\"Encode\"/> reuses (null when there are none).</summary>");
        w.Line($"private {memory}? _spareMemory;");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// Runs the encoder over every source position at once and projects, once, the cross-attention keys and values of");
        w.Line("/// every decoder layer. Positions holding PadToken are masked out of attention (the source padding mask).");
        w.Line("/// </summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The source is empty, longer than MaxSequenceLength, all padding, or holds an id outside [0, SourceVocabSize).</exception>");
        w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public EncoderOutput Encode({Global.ReadOnlySpanInt} source)"))
        {
            w.Line($"if (source.IsEmpty) {errors}.EmptyTokens(nameof(source));");
            w.Line($"if (source.Length > MaxSequenceLength) {errors}.ContextFull(nameof(source), 0, source.Length, MaxSequenceLength);");
            w.Line("_pool.ThrowIfDisposed();");
            w.Line("int length = source.Length;");
            w.Line("// The arrays of the last disposed output when they are long enough (no fresh pages to fault in), else new ones.");
            w.Line($"{memory} m =");
            w.Line($"    global::System.Threading.Interlocked.Exchange(ref _spareMemory, null) ?? new {memory}();");
            using (w.Block("if (m.Rows.Length < length * ModelDim)"))
            {
                w.Line("m.Rows = new float[length * ModelDim];");
                w.Line("m.CrossKeys = new float[DecoderLayers * length * ModelDim];");
                w.Line("m.CrossValues = new float[DecoderLayers * length * ModelDim];");
            }
            w.Line("m.Keys = new int[length];");
            w.Line("int keyCount = 0;");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"if ((uint)source[t] >= SourceVocabSize) {errors}.TokenOutOfRange(nameof(source), t, source[t], SourceVocabSize);");
                w.Line("if (source[t] != PadToken) m.Keys[keyCount++] = t;");
            }
            w.Line("if (keyCount == 0) throw new global::System.ArgumentException($\"The source holds only padding (PadToken {PadToken}); there is nothing to attend to.\", nameof(source));");
            w.Line("m.KeyCount = keyCount;");
            w.Line("m.Length = length;");
            w.Line($"{spec.EngineType("Encoder")} encoder = RentEncoder();");
            w.Line("encoder.Encode(_weights, source, m.Keys, keyCount, m.Rows, m.CrossKeys, m.CrossValues);");
            w.Line("ReturnEncoder(encoder);");
            w.Line("return new EncoderOutput(this, m);");
        }
        w.Line();
    }

    private static void EmitTranslation(SourceWriter w, ModelSpec spec)
    {
        string errors = Global.Errors;
        w.Line("/// <summary>Creates a decoder session over an encoded source: its own self-attention KV cache, allocated once.</summary>");
        w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model or the encoded source was disposed.</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block("public Session CreateSession(EncoderOutput memory)"))
        {
            w.Line("global::System.ArgumentNullException.ThrowIfNull(memory);");
            w.Line("_pool.ThrowIfDisposed();");
            w.Line("memory.ThrowIfDisposed();");
            w.Line("return new Session(_weights, memory, _pool);");
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// Translates one source sequence (token ids, usually BOS .. EOS as the tutorial feeds them): encodes it, then decodes");
        w.Line("/// from BosToken until EosToken or MaxNewTokens. Greedy at temperature 0, sampled otherwise; with BeamWidth &gt; 1, the best");
        w.Line("/// beam. Returns the target ids, BOS and EOS excluded.");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public int[] Translate({Global.ReadOnlySpanInt} source, {Options}? options = null)"))
        {
            w.Line($"options ??= new {Options}();");
            w.Line("options.Validate();");
            w.Line("using EncoderOutput memory = Encode(source);");
            w.Line("return options.BeamWidth > 1 ? Beams(memory, options)[0].Tokens : Decode(memory, options);");
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// Translates several sources of different lengths in one call: each is padded with PadToken to the longest, and the");
        w.Line("/// padding is masked out of attention, so each result equals translating that source alone.");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public int[][] Translate(global::System.Collections.Generic.IReadOnlyList<int[]> sources, {Options}? options = null)"))
        {
            w.Line("global::System.ArgumentNullException.ThrowIfNull(sources);");
            w.Line("if (PadToken < 0) throw new global::System.InvalidOperationException(\"Translating a padded batch needs a PadToken; declare one.\");");
            w.Line("int longest = 0;");
            w.Line("for (int i = 0; i < sources.Count; i++)");
            w.Line("    longest = global::System.Math.Max(longest, (sources[i] ?? throw new global::System.ArgumentNullException(nameof(sources), $\"Source {i} is null.\")).Length);");
            w.Line("var padded = new int[longest];");
            w.Line("var results = new int[sources.Count][];");
            using (w.Block("for (int i = 0; i < sources.Count; i++)"))
            {
                w.Line("global::System.Array.Fill(padded, PadToken);");
                w.Line("sources[i].CopyTo(padded, 0);");
                w.Line("results[i] = Translate(padded, options);");
            }
            w.Line("return results;");
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// Beam search over one source: the finished hypotheses best score first, then any left unfinished (see");
        w.Line("/// <see cref=\"global::SourceGenTransformer.BeamSearch\"/>).");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public global::SourceGenTransformer.Translation[] TranslateBeams({Global.ReadOnlySpanInt} source, {Options}? options = null)"))
        {
            w.Line($"options ??= new {Options} {{ BeamWidth = 4 }};");
            w.Line("options.Validate();");
            w.Line("using EncoderOutput memory = Encode(source);");
            w.Line("return Beams(memory, options);");
        }
        w.Line();
        w.Line($"private global::SourceGenTransformer.Translation[] Beams(EncoderOutput memory, {Options} options) =>");
        w.Line("    global::SourceGenTransformer.BeamSearch.Run(() => CreateSession(memory), TargetVocabSize, BosToken, EosToken, MaxSequenceLength, options);");
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// The log-probability the model gives <paramref name=\"target\"/> followed by EosToken, given the source: the sum over");
        w.Line("/// positions of log softmax(logits)[token], teacher-forced from BosToken.");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public float Score({Global.ReadOnlySpanInt} source, {Global.ReadOnlySpanInt} target)"))
        {
            w.Line("using EncoderOutput memory = Encode(source);");
            w.Line("Session session = CreateSession(memory);");
            w.Line("var logProbs = new float[TargetVocabSize];");
            w.Line("float total = 0f;");
            w.Line("int previous = BosToken;");
            using (w.Block("for (int i = 0; i <= target.Length; i++)"))
            {
                w.Line("global::SourceGenTransformer.BeamSearch.LogSoftmax(session.Forward(previous), logProbs);");
                w.Line("int next = i < target.Length ? target[i] : EosToken;");
                w.Line($"if ((uint)next >= TargetVocabSize) {errors}.TokenOutOfRange(nameof(target), i, next, TargetVocabSize);");
                w.Line("total += logProbs[next];");
                w.Line("previous = next;");
            }
            w.Line("return total;");
        }
        w.Line();

        using (w.Block($"private int[] Decode(EncoderOutput memory, {Options} options)"))
        {
            w.Line("var output = new global::System.Collections.Generic.List<int>();");
            w.Line("if (options.MaxNewTokens == 0) return output.ToArray();");
            w.Line("Session session = CreateSession(memory);");
            w.Line("var sampler = new global::SourceGenTransformer.TokenSampler(TargetVocabSize, options, EosToken);");
            w.Line("int next = sampler.Next(session.Forward(BosToken));");
            using (w.Block("while (!sampler.IsStop(next))"))
            {
                w.Line("output.Add(next);");
                w.Line("// Stop at the budget, or when the session is full and cannot consume another token.");
                w.Line("if (output.Count >= options.MaxNewTokens || session.Position >= MaxSequenceLength) break;");
                w.Line("next = sampler.Next(session.Forward(next));");
            }
            w.Line("return output.ToArray();");
        }
        w.Line();
    }

    private static void EmitEncoderOutput(SourceWriter w, ModelSpec spec)
    {
        string memory = spec.EngineType("Memory");
        w.Line("/// <summary>");
        w.Line("/// An encoded source: the encoder's output and the decoder's cross-attention keys and values, computed once.");
        w.Line("/// Disposing it is optional: it hands its arrays (megabytes for long sources) to the model's next <see cref=\"Encode\"/>,");
        w.Line("/// which then writes into memory already mapped instead of faulting in fresh pages. After that, this output and the");
        w.Line("/// sessions over it throw <see cref=\"global::System.ObjectDisposedException\"/>. Dispose it only once no session over it");
        w.Line("/// is running (a step already under way would read arrays a later Encode reuses).");
        w.Line("/// Translate, TranslateBeams and Score dispose the outputs they make.");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block("public sealed class EncoderOutput : global::System.IDisposable"))
        {
            w.Line($"private readonly {spec.ClassName} _owner;");
            w.Line("private int _disposed;");
            w.Line();
            using (w.Block($"internal EncoderOutput({spec.ClassName} owner, {memory} memory)"))
            {
                w.Line("_owner = owner;");
                w.Line("Encoded = memory;");
            }
            w.Line();
            w.Line("/// <summary>The arrays the decoder reads.</summary>");
            w.Line($"internal {memory} Encoded {{ get; }}");
            w.Line();
            w.Line("/// <summary>Source positions encoded (padding included).</summary>");
            w.Line("public int SourceLength => Encoded.Length;");
            w.Line();
            w.Line("/// <summary>The encoder's output, SourceLength x ModelDim, row-major: the memory the decoder attends to.</summary>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The output was disposed.</exception>");
            using (w.Block($"public {Global.ReadOnlySpanFloat} Memory"))
            {
                using (w.Block("get"))
                {
                    w.Line("ThrowIfDisposed();");
                    w.Line($"return new {Global.ReadOnlySpanFloat}(Encoded.Rows, 0, SourceLength * ModelDim);");
                }
            }
            w.Line();
            w.Line("/// <summary>Hands the arrays to the model's next Encode; this output and its sessions are unusable afterwards. Idempotent.</summary>");
            using (w.Block("public void Dispose()"))
            {
                w.Line("if (global::System.Threading.Interlocked.Exchange(ref _disposed, 1) != 0) return;");
                w.Line("global::System.Threading.Volatile.Write(ref _owner._spareMemory, Encoded);");
            }
            w.Line();
            using (w.Block("internal void ThrowIfDisposed()"))
            {
                w.Line("if (global::System.Threading.Volatile.Read(ref _disposed) != 0)");
                w.Line("    throw new global::System.ObjectDisposedException(nameof(EncoderOutput), \"This encoded source was disposed: its arrays now belong to a later Encode. Encode the source again.\");");
            }
        }
        w.Line();
    }

    private static void EmitSession(SourceWriter w, ModelSpec spec)
    {
        string errors = Global.Errors;
        w.Line("/// <summary>");
        w.Line("/// The decoder over one encoded source: a causal self-attention KV cache and every buffer, allocated once.");
        w.Line("/// <see cref=\"Forward\"/> allocates nothing. Its matrix-vector products split their rows across the model's worker");
        w.Line("/// pool (sessions of one model take turns on it). A session runs one call at a time: use one session per thread.");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block("public sealed class Session : global::SourceGenTransformer.IForkableSession"))
        {
            w.Line($"private readonly {spec.EngineType("Decoder")} _decoder;");
            w.Line("private readonly EncoderOutput _memory;");
            w.Line($"private {Global.Runtime}SessionGuard _guard; // one call at a time: a second thread gets InvalidOperationException");
            w.Line();
            using (w.Block($"internal Session({spec.EngineType("Weights")} weights, EncoderOutput memory, {Global.Runtime}WorkerPool pool)"))
            {
                w.Line("_memory = memory;");
                w.Line("_decoder = new(weights, memory.Encoded, pool);");
            }
            w.Line();
            w.Line("/// <summary>Target tokens consumed so far (BosToken included).</summary>");
            w.Line("public int Position => _decoder.Position;");
            w.Line();
            w.Line("/// <summary>The encoded source this session attends to.</summary>");
            w.Line("public EncoderOutput Memory => _memory;");
            w.Line();
            w.Line("/// <summary>Consumes one target token (start with BosToken) and returns the logits (TargetVocabSize) for the next.</summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">The token is outside [0, TargetVocabSize), or the session holds MaxSequenceLength tokens.</exception>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The encoded source, or the model, was disposed.</exception>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            using (w.Block($"public {Global.ReadOnlySpanFloat} Forward(int token)"))
            {
                w.Line("_memory.ThrowIfDisposed();");
                w.Line($"if ((uint)token >= TargetVocabSize) {errors}.TokenOutOfRange(nameof(token), token, TargetVocabSize);");
                w.Line($"if (_decoder.Position >= MaxSequenceLength) {errors}.ContextFull(nameof(token), _decoder.Position, 1, MaxSequenceLength);");
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                    w.Line("_decoder.Step(token);");
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
                w.Line("return _decoder.Logits;");
            }
            w.Line();
            w.Line("/// <summary>Forgets the consumed target tokens; the encoded source stays.</summary>");
            using (w.Block("public void Reset()"))
            {
                w.Line("_guard.Enter();");
                w.Line("_decoder.Reset();");
                w.Line("_guard.Exit();");
            }
            w.Line();
            w.Line("/// <summary>Makes this session's position and cache equal to another session's over the same source (beam search forks so).</summary>");
            using (w.Block("public void CopyFrom(Session other)"))
            {
                w.Line("global::System.ArgumentNullException.ThrowIfNull(other);");
                w.Line("if (!ReferenceEquals(other._memory, _memory)) throw new global::System.ArgumentException(\"Sessions over different sources cannot be copied.\", nameof(other));");
                w.Line("if (ReferenceEquals(other, this)) return;");
                w.Line("_guard.Enter();");
                w.Line("other._guard.Enter();");
                using (w.Block("try"))
                    w.Line("_decoder.CopyFrom(other._decoder);");
                using (w.Block("finally"))
                {
                    w.Line("other._guard.Exit();");
                    w.Line("_guard.Exit();");
                }
            }
            w.Line();
            w.Line("void global::SourceGenTransformer.IForkableSession.CopyFrom(global::SourceGenTransformer.IForkableSession other) => CopyFrom((Session)other);");
        }
        w.Line();
    }
}
