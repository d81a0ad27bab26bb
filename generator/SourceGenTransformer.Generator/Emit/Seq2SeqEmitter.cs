using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.EncoderEmitter;
using static SourceGenTransformer.Generator.Emit.KernelEmitter;
using static SourceGenTransformer.Generator.Emit.ModelEmitter;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// Writes the encoder-decoder of "Attention Is All You Need" as PyTorch's nn.Transformer computes it, with
/// the weight names of its translation tutorial: Encode, the decoder Session, Translate, beams and Score.
/// </summary>
internal static class Seq2SeqEmitter
{
    private const string GC = Names.GeneratedCode;

    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        string cls = spec.ClassName;
        EmitModelMembers(w, s, cls);
        EmitWeights(w, spec);
        EmitEncoder(w, s);
        EmitEncoderOutput(w, cls);
        EmitSession(w, s);
    }

    private static void EmitModelMembers(SourceWriter w, ModelShape s, string cls)
    {
        float embeddingScale = (float)System.Math.Sqrt(s.ModelDim);
        w.Line("/// <summary>Token embeddings are multiplied by sqrt(ModelDim) before positions are added, as the tutorial's TokenEmbedding does.</summary>");
        w.Line($"private const float EmbeddingScale = {Literal(embeddingScale)}f;");
        w.Line();
        EmitPoolMembers(w, cls, "Encode on a disposed model throws");

        EmitLoad(w, cls,
        [
            "Loads the weights from a safetensors file holding the state_dict of the PyTorch translation tutorial's Seq2SeqTransformer",
            "(transformer.encoder.layers.{i}.self_attn.in_proj_weight, ..., src_tok_emb.embedding.weight, generator.weight). If",
            "positional_encoding.pos_embedding is present it is used (it is the table the model was trained with); otherwise the",
            "sinusoidal table is computed as the tutorial does. F32, F16 and BF16 tensors load.",
            "The model owns worker threads for the encoder (<see cref=\"global::SourceGenTransformer.ModelOptions.Threads\"/>, default one per processor); dispose it to stop them.",
        ], withOptions: true);

        w.Line("/// <summary>Creates a decoder session over an encoded source: its own self-attention KV cache, allocated once.</summary>");
        w.Line(GC);
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
        w.Line(GC);
        using (w.Block("public int[] Translate(global::System.ReadOnlySpan<int> source, global::SourceGenTransformer.GenerationOptions? options = null)"))
        {
            w.Line("options ??= new global::SourceGenTransformer.GenerationOptions();");
            w.Line("options.Validate();");
            w.Line("using EncoderOutput memory = Encode(source);");
            w.Line("return options.BeamWidth > 1 ? Beams(memory, options)[0].Tokens : Decode(memory, options);");
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// Translates several sources of different lengths in one call: each is padded with PadToken to the longest, and the");
        w.Line("/// padding is masked out of attention, so each result equals translating that source alone.");
        w.Line("/// </summary>");
        w.Line(GC);
        using (w.Block("public int[][] Translate(global::System.Collections.Generic.IReadOnlyList<int[]> sources, global::SourceGenTransformer.GenerationOptions? options = null)"))
        {
            w.Line("global::System.ArgumentNullException.ThrowIfNull(sources);");
            w.Line("if (PadToken < 0) throw new global::System.InvalidOperationException(\"Translating a padded batch needs a PadToken; declare one.\");");
            w.Line("int longest = 0;");
            w.Line("for (int i = 0; i < sources.Count; i++) longest = global::System.Math.Max(longest, (sources[i] ?? throw new global::System.ArgumentNullException(nameof(sources), $\"Source {i} is null.\")).Length);");
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

        w.Line("/// <summary>Beam search over one source: every finished hypothesis, best score first (see <see cref=\"global::SourceGenTransformer.BeamSearch\"/>).</summary>");
        w.Line(GC);
        using (w.Block("public global::SourceGenTransformer.Translation[] TranslateBeams(global::System.ReadOnlySpan<int> source, global::SourceGenTransformer.GenerationOptions? options = null)"))
        {
            w.Line("options ??= new global::SourceGenTransformer.GenerationOptions { BeamWidth = 4 };");
            w.Line("options.Validate();");
            w.Line("using EncoderOutput memory = Encode(source);");
            w.Line("return Beams(memory, options);");
        }
        w.Line();
        w.Line("private global::SourceGenTransformer.Translation[] Beams(EncoderOutput memory, global::SourceGenTransformer.GenerationOptions options) =>");
        w.Line("    global::SourceGenTransformer.BeamSearch.Run(() => CreateSession(memory), TargetVocabSize, BosToken, EosToken, MaxSequenceLength, options);");
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// The log-probability the model gives <paramref name=\"target\"/> followed by EosToken, given the source: the sum over");
        w.Line("/// positions of log softmax(logits)[token], teacher-forced from BosToken.");
        w.Line("/// </summary>");
        w.Line(GC);
        using (w.Block("public float Score(global::System.ReadOnlySpan<int> source, global::System.ReadOnlySpan<int> target)"))
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
                w.Line($"if ((uint)next >= TargetVocabSize) {Errors}.TokenOutOfRange(nameof(target), i, next, TargetVocabSize);");
                w.Line("total += logProbs[next];");
                w.Line("previous = next;");
            }
            w.Line("return total;");
        }
        w.Line();

        using (w.Block("private int[] Decode(EncoderOutput memory, global::SourceGenTransformer.GenerationOptions options)"))
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

    private static void EmitWeights(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        w.Line("/// <summary>The weights in float32, row-major, layers stacked; every matrix is (out, in) as nn.Linear stores it; matrices of a multiple of 32 rows are stored in panels (WeightPacking.ToPanels).</summary>");
        w.Line(GC);
        using (w.Block("internal sealed class Weights"))
        {
            w.Line("public readonly float[] SourceEmbedding = new float[SourceVocabSize * ModelDim]; // (source_vocab, dim) src_tok_emb");
            w.Line("public readonly float[] TargetEmbedding = new float[TargetVocabSize * ModelDim]; // (target_vocab, dim) tgt_tok_emb");
            w.Line("public readonly float[] Position = new float[MaxSequenceLength * ModelDim];      // (seq, dim) sinusoidal table");
            EmitWeightFields(w, "EncoderLayers");
            w.Line("public readonly float[] EncFinalNormW = new float[ModelDim];                      // (dim) transformer.encoder.norm");
            w.Line("public readonly float[] EncFinalNormB = new float[ModelDim];                      // (dim)");
            w.Line("public readonly float[] DecSaInW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(DecoderLayers * 3 * ModelDim * ModelDim);  // (layer, 3 * dim, dim) masked self-attention");
            w.Line("public readonly float[] DecSaInB = new float[DecoderLayers * 3 * ModelDim];             // (layer, 3 * dim)");
            w.Line("public readonly float[] DecSaOutW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(DecoderLayers * ModelDim * ModelDim);     // (layer, dim, dim)");
            w.Line("public readonly float[] DecSaOutB = new float[DecoderLayers * ModelDim];                // (layer, dim)");
            w.Line("public readonly float[] DecCaInW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(DecoderLayers * 3 * ModelDim * ModelDim);  // (layer, 3 * dim, dim) cross-attention (multihead_attn)");
            w.Line("public readonly float[] DecCaInB = new float[DecoderLayers * 3 * ModelDim];             // (layer, 3 * dim)");
            w.Line("public readonly float[] DecCaOutW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(DecoderLayers * ModelDim * ModelDim);     // (layer, dim, dim)");
            w.Line("public readonly float[] DecCaOutB = new float[DecoderLayers * ModelDim];                // (layer, dim)");
            w.Line("public readonly float[] DecLin1W = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(DecoderLayers * FeedForwardDim * ModelDim); // (layer, ffn, dim)");
            w.Line("public readonly float[] DecLin1B = new float[DecoderLayers * FeedForwardDim];            // (layer, ffn)");
            w.Line("public readonly float[] DecLin2W = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(DecoderLayers * ModelDim * FeedForwardDim); // (layer, dim, ffn)");
            w.Line("public readonly float[] DecLin2B = new float[DecoderLayers * ModelDim];                 // (layer, dim)");
            w.Line("public readonly float[] DecNormW = new float[DecoderLayers * 3 * ModelDim];             // (layer, 3, dim) norm1, norm2, norm3");
            w.Line("public readonly float[] DecNormB = new float[DecoderLayers * 3 * ModelDim];             // (layer, 3, dim)");
            w.Line("public readonly float[] DecFinalNormW = new float[ModelDim];                            // (dim) transformer.decoder.norm");
            w.Line("public readonly float[] DecFinalNormB = new float[ModelDim];                            // (dim)");
            w.Line("public readonly float[] GeneratorW = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<float>(TargetVocabSize * ModelDim);             // (target_vocab, dim)");
            w.Line("public readonly float[] GeneratorB = new float[TargetVocabSize];                        // (target_vocab)");
            w.Line();

            w.Line("/// <summary>Reads every tensor by the tutorial's names, checking each shape against the declaration.</summary>");
            using (w.Block("public static Weights Read(global::SourceGenTransformer.TensorSource file)"))
            {
                WeightsEmitter.EmitDeclare(w, spec);
                w.Line("var w = new Weights();");
                w.Line("const int D = ModelDim, F = FeedForwardDim;");
                w.Line("file.ReadInto(\"src_tok_emb.embedding.weight\", new long[] { SourceVocabSize, D }, w.SourceEmbedding);");
                w.Line("file.ReadInto(\"tgt_tok_emb.embedding.weight\", new long[] { TargetVocabSize, D }, w.TargetEmbedding);");
                w.Line("// The trained table if the file has it (the tutorial saves it as a buffer, [5000, 1, dim]); else compute it.");
                w.Line("if (file.Contains(\"positional_encoding.pos_embedding\"))");
                w.Line("    file.ReadLeadingRowsInto(\"positional_encoding.pos_embedding\", MaxSequenceLength, D, w.Position);");
                w.Line("else");
                w.Line("    SinusoidalTable(w.Position);");
                using (w.Block("for (int l = 0; l < EncoderLayers; l++)"))
                {
                    w.Line("string p = \"transformer.encoder.layers.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
                    EmitTorchEncoderLayerRead(w, s);
                }
                w.Line("file.ReadInto(\"transformer.encoder.norm.weight\", new long[] { D }, w.EncFinalNormW);");
                w.Line("file.ReadInto(\"transformer.encoder.norm.bias\", new long[] { D }, w.EncFinalNormB);");
                using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
                {
                    w.Line("string p = \"transformer.decoder.layers.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
                    foreach ((string module, string field) in new[] { ("self_attn", "DecSa"), ("multihead_attn", "DecCa") })
                    {
                        w.Line(WeightsEmitter.ReadMatrix(s, 3 * s.ModelDim, $"p + \"{module}.in_proj_weight\"", "3 * D", "D", $"new global::System.Span<float>(w.{field}InW, l * 3 * D * D, 3 * D * D)"));
                        w.Line($"file.ReadInto(p + \"{module}.in_proj_bias\", new long[] {{ 3 * D }}, new global::System.Span<float>(w.{field}InB, l * 3 * D, 3 * D));");
                        w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, $"p + \"{module}.out_proj.weight\"", "D", "D", $"new global::System.Span<float>(w.{field}OutW, l * D * D, D * D)"));
                        w.Line($"file.ReadInto(p + \"{module}.out_proj.bias\", new long[] {{ D }}, new global::System.Span<float>(w.{field}OutB, l * D, D));");
                    }
                    w.Line(WeightsEmitter.ReadMatrix(s, s.FeedForwardDim, "p + \"linear1.weight\"", "F", "D", "new global::System.Span<float>(w.DecLin1W, l * F * D, F * D)"));
                    w.Line("file.ReadInto(p + \"linear1.bias\", new long[] { F }, new global::System.Span<float>(w.DecLin1B, l * F, F));");
                    w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, "p + \"linear2.weight\"", "D", "F", "new global::System.Span<float>(w.DecLin2W, l * D * F, D * F)"));
                    w.Line("file.ReadInto(p + \"linear2.bias\", new long[] { D }, new global::System.Span<float>(w.DecLin2B, l * D, D));");
                    using (w.Block("for (int n = 0; n < 3; n++)"))
                    {
                        w.Line("string norm = \"norm\" + (n + 1).ToString(global::System.Globalization.CultureInfo.InvariantCulture);");
                        w.Line("file.ReadInto(p + norm + \".weight\", new long[] { D }, new global::System.Span<float>(w.DecNormW, (l * 3 + n) * D, D));");
                        w.Line("file.ReadInto(p + norm + \".bias\", new long[] { D }, new global::System.Span<float>(w.DecNormB, (l * 3 + n) * D, D));");
                    }
                }
                w.Line("file.ReadInto(\"transformer.decoder.norm.weight\", new long[] { D }, w.DecFinalNormW);");
                w.Line("file.ReadInto(\"transformer.decoder.norm.bias\", new long[] { D }, w.DecFinalNormB);");
                w.Line(WeightsEmitter.ReadMatrix(s, s.TargetVocabSize, "\"generator.weight\"", "TargetVocabSize", "D", "w.GeneratorW"));
                w.Line("file.ReadInto(\"generator.bias\", new long[] { TargetVocabSize }, w.GeneratorB);");
                w.Line(WeightsEmitter.ThrowIfUnread);
                w.Line("return w;");
            }
            w.Line();
            w.Line("/// <summary>The tutorial's table: pe[pos, 2i] = sin(pos · e^(-2i ln(10000) / dim)), pe[pos, 2i + 1] = cos(same), in float32.</summary>");
            using (w.Block("private static void SinusoidalTable(float[] table)"))
            {
                using (w.Block("for (int i = 0; i < ModelDim; i += 2)"))
                {
                    w.Line("float den = global::System.MathF.Exp(-i * (global::System.MathF.Log(10000f) / ModelDim));");
                    using (w.Block("for (int pos = 0; pos < MaxSequenceLength; pos++)"))
                    {
                        w.Line("float angle = pos * den;");
                        w.Line("table[pos * ModelDim + i] = (float)global::System.Math.Sin(angle);");
                        w.Line("if (i + 1 < ModelDim) table[pos * ModelDim + i + 1] = (float)global::System.Math.Cos(angle);");
                    }
                }
            }
        }
        w.Line();
    }

    private static void EmitEncoder(SourceWriter w, ModelShape s)
    {
        string norm = NormName(s);
        w.Line("/// <summary>");
        w.Line("/// Runs the encoder over every source position at once and projects, once, the cross-attention keys and values of");
        w.Line("/// every decoder layer. Positions holding PadToken are masked out of attention (the source padding mask).");
        w.Line("/// </summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The source is empty, longer than MaxSequenceLength, all padding, or holds an id outside [0, SourceVocabSize).</exception>");
        w.Line(GC);
        using (w.Block("public EncoderOutput Encode(global::System.ReadOnlySpan<int> source)"))
        {
            w.Line("const int D = ModelDim;");
            w.Line($"if (source.IsEmpty) {Errors}.EmptyTokens(nameof(source));");
            w.Line($"if (source.Length > MaxSequenceLength) {Errors}.ContextFull(nameof(source), 0, source.Length, MaxSequenceLength);");
            w.Line("int length = source.Length;");
            w.Line("var keys = new int[length];");
            w.Line("int keyCount = 0;");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"if ((uint)source[t] >= SourceVocabSize) {Errors}.TokenOutOfRange(nameof(source), t, source[t], SourceVocabSize);");
                w.Line("if (source[t] != PadToken) keys[keyCount++] = t;");
            }
            w.Line("if (keyCount == 0) throw new global::System.ArgumentException($\"The source holds only padding (PadToken {PadToken}); there is nothing to attend to.\", nameof(source));");
            w.Line();
            w.Line("Weights w = _weights;");
            w.Line("// The arrays of the last disposed output when they are long enough (no fresh pages to fault in), else new ones.");
            w.Line("EncoderOutput? spare = global::System.Threading.Interlocked.Exchange(ref _spareEncoderOutput, null);");
            w.Line("bool reuse = spare is not null && spare.MemoryRows.Length >= length * D;");
            w.Line("float[] x = reuse ? spare!.MemoryRows : new float[length * D];");
            w.Line("float[] crossKeys = reuse ? spare!.CrossKeys : new float[DecoderLayers * length * D];");
            w.Line("float[] crossValues = reuse ? spare!.CrossValues : new float[DecoderLayers * length * D];");
            w.Line("// x (length, dim) = src_tok_emb[source] * sqrt(dim) + pos_embedding[0..length]");
            w.Line("for (int t = 0; t < length; t++)");
            w.Line("    for (int i = 0; i < D; i++)");
            w.Line("        x[t * D + i] = w.SourceEmbedding[source[t] * D + i] * EmbeddingScale + w.Position[t * D + i];");
            w.Line("EncoderBuffers buffers = RentEncoderBuffers(length);");
            w.Line("for (int l = 0; l < EncoderLayers; l++) EncoderLayer(w, l, x, length, keys, keyCount, buffers);");
            w.Line("// memory = encoder.norm(x)");
            w.Line($"for (int t = 0; t < length; t++) Kernels.{norm}({Rw("x", "t * D", "D")}, {Ro("x", "t * D", "D")}, w.EncFinalNormW, w.EncFinalNormB);");
            w.Line();
            w.Line("// Cross-attention keys and values of every decoder layer, projected once: (layer, length, dim) each.");
            using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
            {
                w.Line($"// k (length, dim) = memory @ multihead_attn.in_proj[l][dim..2 dim]ᵀ + bias; v likewise with rows 2 dim..3 dim");
                string job = I(MatMulJob(s, s.ModelDim, s.ModelDim));
                w.Line($"buffers.MatMul({job}, crossKeys, l * length * D, x, w.DecCaInW, (l * 3 + 1) * D * D, w.DecCaInB, (l * 3 + 1) * D);");
                w.Line($"buffers.MatMul({job}, crossValues, l * length * D, x, w.DecCaInW, (l * 3 + 2) * D * D, w.DecCaInB, (l * 3 + 2) * D);");
            }
            w.Line("ReturnEncoderBuffers(buffers);");
            w.Line("return new EncoderOutput(this, length, x, crossKeys, crossValues, keys, keyCount);");
        }
        w.Line();
        EncoderEmitter.EmitEncoder(w, s);
    }

    /// <summary>The job number of Session.MatVec for a product of that shape.</summary>
    private static int Job(ModelShape s, int d, int n) => JobOf(MatVecShapes(s), d, n);

    private static void EmitEncoderOutput(SourceWriter w, string cls)
    {
        w.Line("/// <summary>A disposed output whose arrays the next <see cref=\"Encode\"/> reuses (null when there is none).</summary>");
        w.Line("private EncoderOutput? _spareEncoderOutput;");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// An encoded source: the encoder's output and the decoder's cross-attention keys and values, computed once.");
        w.Line("/// Disposing it is optional: it hands its arrays (megabytes for long sources) to the model's next <see cref=\"Encode\"/>,");
        w.Line("/// which then writes into memory already mapped instead of faulting in fresh pages. After that, this output and the");
        w.Line("/// sessions over it throw <see cref=\"global::System.ObjectDisposedException\"/>. Dispose it only once no session over it");
        w.Line("/// is running (sessions are not thread-safe; a step already under way would read arrays a later Encode reuses).");
        w.Line("/// Translate, TranslateBeams and Score dispose the outputs they make.");
        w.Line("/// </summary>");
        w.Line(GC);
        using (w.Block("public sealed class EncoderOutput : global::System.IDisposable"))
        {
            w.Line($"private readonly {cls} _owner;");
            w.Line("private int _disposed;");
            w.Line("internal readonly float[] MemoryRows;  // (source, dim) encoder output; a reused array may be longer");
            w.Line("internal readonly float[] CrossKeys;   // (decoder_layer, source, dim); likewise");
            w.Line("internal readonly float[] CrossValues; // (decoder_layer, source, dim); likewise");
            w.Line("internal readonly int[] Keys;          // source positions that are not padding, ascending");
            w.Line("internal readonly int KeyCount;");
            w.Line();
            using (w.Block($"internal EncoderOutput({cls} owner, int length, float[] memory, float[] crossKeys, float[] crossValues, int[] keys, int keyCount)"))
            {
                w.Line("_owner = owner;");
                w.Line("SourceLength = length;");
                w.Line("MemoryRows = memory;");
                w.Line("CrossKeys = crossKeys;");
                w.Line("CrossValues = crossValues;");
                w.Line("Keys = keys;");
                w.Line("KeyCount = keyCount;");
            }
            w.Line();
            w.Line("/// <summary>Source positions encoded (padding included).</summary>");
            w.Line("public int SourceLength { get; }");
            w.Line();
            w.Line("/// <summary>The encoder's output, SourceLength x ModelDim, row-major: the memory the decoder attends to.</summary>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The output was disposed.</exception>");
            using (w.Block("public global::System.ReadOnlySpan<float> Memory"))
            {
                using (w.Block("get"))
                {
                    w.Line("ThrowIfDisposed();");
                    w.Line("return new global::System.ReadOnlySpan<float>(MemoryRows, 0, SourceLength * ModelDim);");
                }
            }
            w.Line();
            w.Line("/// <summary>Hands the arrays to the model's next Encode; this output and its sessions are unusable afterwards. Idempotent.</summary>");
            using (w.Block("public void Dispose()"))
            {
                w.Line("if (global::System.Threading.Interlocked.Exchange(ref _disposed, 1) != 0) return;");
                w.Line("global::System.Threading.Volatile.Write(ref _owner._spareEncoderOutput, this);");
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

    private static void EmitSession(SourceWriter w, ModelShape s)
    {
        string d = I(s.ModelDim), f = I(s.FeedForwardDim), v = I(s.TargetVocabSize), qkv = I(3 * s.ModelDim);
        string norm = NormName(s);
        bool pre = s.NormFirst;
        float scale = (float)(1.0 / System.Math.Sqrt(s.HeadDim));

        w.Line("/// <summary>");
        w.Line("/// The decoder over one encoded source: a causal self-attention KV cache and every buffer, allocated once.");
        w.Line("/// <see cref=\"Forward\"/> allocates nothing. Its matrix-vector products split their rows across the model's worker");
        w.Line("/// pool (sessions of one model take turns on it). Not thread-safe: use one session per thread.");
        w.Line("/// </summary>");
        w.Line(GC);
        using (w.Block("public sealed class Session : global::SourceGenTransformer.IForkableSession, global::SourceGenTransformer.Runtime.IParallelWork"))
        {
            w.Line("private readonly Weights _w;");
            w.Line("private readonly global::SourceGenTransformer.Runtime.WorkerPool _pool;");
            w.Line("private int _job, _wAt;");
            w.Line("private float[] _mvOut = [], _mvIn = [], _mvW = [];");
            w.Line("private readonly EncoderOutput _memory;");
            w.Line("private int _position;");
            w.Line("private global::SourceGenTransformer.Runtime.SessionGuard _guard; // one call at a time: a second thread gets InvalidOperationException");
            w.Line("private readonly float[] _x = new float[ModelDim];          // (dim) the residual stream");
            w.Line("private readonly float[] _xb = new float[ModelDim];         // (dim) a sub-block's normed input, then a projection");
            w.Line("private readonly float[] _xb2 = new float[ModelDim];        // (dim) attention output");
            w.Line("private readonly float[] _qkv = new float[3 * ModelDim];    // (3 * dim) self-attention query, key, value");
            w.Line("private readonly float[] _q = new float[ModelDim];          // (dim) cross-attention query");
            w.Line("private readonly float[] _hb = new float[FeedForwardDim];   // (ffn) feed-forward hidden");
            w.Line("private readonly float[] _scores = new float[MaxSequenceLength]; // (seq) one head's attention weights");
            w.Line("private readonly float[] _logits = new float[TargetVocabSize];   // (target_vocab)");
            w.Line("private readonly float[] _keyCache = new float[DecoderLayers * MaxSequenceLength * ModelDim];   // (layer, seq, dim)");
            w.Line("private readonly float[] _valueCache = new float[DecoderLayers * MaxSequenceLength * ModelDim]; // (layer, seq, dim)");
            w.Line();
            using (w.Block("internal Session(Weights weights, EncoderOutput memory, global::SourceGenTransformer.Runtime.WorkerPool pool)"))
            {
                w.Line("_w = weights;");
                w.Line("_memory = memory;");
                w.Line("_pool = pool;");
            }
            w.Line();
            List<(int d, int n)> shapes = Distinct(MatVecShapes(s));
            w.Line("/// <summary>output = w[wAt..] (rows x cols) @ input, the rows split across the pool; job names the shape.</summary>");
            using (w.Block("private void MatVec(int job, float[] output, float[] input, float[] w, int wAt)"))
            {
                w.Line("_job = job; _mvOut = output; _mvIn = input; _mvW = w; _wAt = wAt;");
                w.Line("_pool.Run(this);");
            }
            w.Line();
            w.Line("/// <summary>Runs this worker's share of the current matrix-vector product: a range of its rows.</summary>");
            using (w.Block("void global::SourceGenTransformer.Runtime.IParallelWork.Execute(int part, int parts)"))
            {
                using (w.Block("switch (_job)"))
                {
                    for (int j = 0; j < shapes.Count; j++)
                    {
                        (int sd, int sn) = shapes[j];
                        using (w.Block($"case {I(j)}:"))
                        {
                            EmitRowClaims(w, s, sd, sn, SplitRows(s, sd, 4), () =>
                                w.Line($"Kernels.{MatVecName(sd, sn)}(_mvOut, _mvIn, {Ro("_mvW", "_wAt", $"{I(sd)} * {I(sn)}")}, rs, re);"));
                            w.Line("break;");
                        }
                    }
                }
            }
            w.Line();
            w.Line("/// <summary>Target tokens consumed so far (BosToken included).</summary>");
            w.Line("public int Position => _position;");
            w.Line();
            w.Line("/// <summary>The encoded source this session attends to.</summary>");
            w.Line("public EncoderOutput Memory => _memory;");
            w.Line();
            w.Line("/// <summary>Consumes one target token (start with BosToken) and returns the logits (TargetVocabSize) for the next.</summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">The token is outside [0, TargetVocabSize), or the session holds MaxSequenceLength tokens.</exception>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The encoded source, or the model, was disposed.</exception>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            using (w.Block("public global::System.ReadOnlySpan<float> Forward(int token)"))
            {
                w.Line("_memory.ThrowIfDisposed();");
                w.Line($"if ((uint)token >= TargetVocabSize) {Errors}.TokenOutOfRange(nameof(token), token, TargetVocabSize);");
                w.Line($"if (_position >= MaxSequenceLength) {Errors}.ContextFull(nameof(token), _position, 1, MaxSequenceLength);");
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                    w.Line("Step(token);");
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
                w.Line("return _logits;");
            }
            w.Line();
            w.Line("/// <summary>Forgets the consumed target tokens; the encoded source stays.</summary>");
            using (w.Block("public void Reset()"))
            {
                w.Line("_guard.Enter();");
                w.Line("_position = 0;");
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
                {
                    w.Line("_position = other._position;");
                    w.Line("int rows = _position * ModelDim;");
                    using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
                    {
                        w.Line("int start = l * MaxSequenceLength * ModelDim;");
                        w.Line("global::System.Array.Copy(other._keyCache, start, _keyCache, start, rows);");
                        w.Line("global::System.Array.Copy(other._valueCache, start, _valueCache, start, rows);");
                    }
                }
                using (w.Block("finally"))
                {
                    w.Line("other._guard.Exit();");
                    w.Line("_guard.Exit();");
                }
            }
            w.Line();
            w.Line("void global::SourceGenTransformer.IForkableSession.CopyFrom(global::SourceGenTransformer.IForkableSession other) => CopyFrom((Session)other);");
            w.Line();

            w.Line("/// <summary>");
            w.Line(pre
                ? "/// One decoder step, pre-norm: x += self_attn(norm1(x)); x += cross_attn(norm2(x), memory); x += ff(norm3(x))."
                : "/// One decoder step, post-norm as in the paper: x = norm1(x + self_attn(x)); x = norm2(x + cross_attn(x, memory)); x = norm3(x + ff(x)).");
            w.Line("/// </summary>");
            using (w.Block("private void Step(int token)"))
            {
                w.Line("const int D = ModelDim, F = FeedForwardDim;");
                w.Line("Weights w = _w;");
                w.Line("int pos = _position;");
                w.Line($"// x ({d}) = tgt_tok_emb[token] * sqrt({d}) + pos_embedding[pos]");
                w.Line("for (int i = 0; i < D; i++) _x[i] = w.TargetEmbedding[token * D + i] * EmbeddingScale + w.Position[pos * D + i];");
                w.Line();
                using (w.Block("for (int l = 0; l < DecoderLayers; l++)"))
                {
                    string Norm(int n, string output, string input) =>
                        $"Kernels.{norm}({output}, {input}, {Ro("w.DecNormW", $"(l * 3 + {n}) * D", "D")}, {Ro("w.DecNormB", $"(l * 3 + {n}) * D", "D")});";
                    string input = pre ? "_xb" : "_x";
                    string inputName = input.TrimStart('_');

                    w.Line("// --- masked self-attention over target positions 0..pos");
                    if (pre) w.Line(Norm(0, "_xb", "_x"));
                    w.Line($"// qkv ({qkv}) = self_attn.in_proj[l] ({qkv}x{d}) @ {inputName} + bias");
                    w.Line($"MatVec({I(Job(s, 3 * s.ModelDim, s.ModelDim))}, _qkv, {input}, w.DecSaInW, l * 3 * D * D);");
                    w.Line($"Kernels.{AddName(3 * s.ModelDim)}(_qkv, {Ro("w.DecSaInB", "l * 3 * D", "3 * D")});");
                    w.Line("int cacheRow = (l * MaxSequenceLength + pos) * D;");
                    w.Line($"new {ReadOnlySpan}(_qkv, D, D).CopyTo({Rw("_keyCache", "cacheRow", "D")});");
                    w.Line($"new {ReadOnlySpan}(_qkv, 2 * D, D).CopyTo({Rw("_valueCache", "cacheRow", "D")});");
                    w.Line("CausalAttention(l, pos);");
                    w.Line($"// x {(pre ? "+=" : "= norm1(x +")} self_attn.out_proj[l] ({d}x{d}) @ att + bias{(pre ? "" : ")")}");
                    w.Line($"MatVec({I(Job(s, s.ModelDim, s.ModelDim))}, _xb, _xb2, w.DecSaOutW, l * D * D);");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_xb, {Ro("w.DecSaOutB", "l * D", "D")});");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb);");
                    if (!pre) w.Line(Norm(0, "_x", "_x"));
                    w.Line();

                    w.Line("// --- cross-attention over the encoded source");
                    if (pre) w.Line(Norm(1, "_xb", "_x"));
                    w.Line($"// q ({d}) = multihead_attn.in_proj[l][0..{d}] @ {inputName} + bias (keys and values were projected in Encode)");
                    w.Line($"MatVec({I(Job(s, s.ModelDim, s.ModelDim))}, _q, {input}, w.DecCaInW, l * 3 * D * D);");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_q, {Ro("w.DecCaInB", "l * 3 * D", "D")});");
                    w.Line("CrossAttention(l);");
                    w.Line($"// x {(pre ? "+=" : "= norm2(x +")} multihead_attn.out_proj[l] ({d}x{d}) @ att + bias{(pre ? "" : ")")}");
                    w.Line($"MatVec({I(Job(s, s.ModelDim, s.ModelDim))}, _xb, _xb2, w.DecCaOutW, l * D * D);");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_xb, {Ro("w.DecCaOutB", "l * D", "D")});");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb);");
                    if (!pre) w.Line(Norm(1, "_x", "_x"));
                    w.Line();

                    w.Line("// --- feed-forward");
                    if (pre) w.Line(Norm(2, "_xb", "_x"));
                    w.Line($"// hb ({f}) = {s.Activation}(linear1[l] ({f}x{d}) @ {inputName} + bias)");
                    w.Line($"MatVec({I(Job(s, s.FeedForwardDim, s.ModelDim))}, _hb, {input}, w.DecLin1W, l * F * D);");
                    w.Line($"Kernels.{AddName(s.FeedForwardDim)}(_hb, {Ro("w.DecLin1B", "l * F", "F")});");
                    w.Line($"Kernels.{ActivationName(s)}(_hb);");
                    w.Line($"// x {(pre ? "+=" : "= norm3(x +")} linear2[l] ({d}x{f}) @ hb + bias{(pre ? "" : ")")}");
                    w.Line($"MatVec({I(Job(s, s.ModelDim, s.FeedForwardDim))}, _xb, _hb, w.DecLin2W, l * D * F);");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_xb, {Ro("w.DecLin2B", "l * D", "D")});");
                    w.Line($"Kernels.{AddName(s.ModelDim)}(_x, _xb);");
                    if (!pre) w.Line(Norm(2, "_x", "_x"));
                }
                w.Line("_position = pos + 1;");
                w.Line();
                w.Line($"// logits ({v}) = generator ({v}x{d}) @ decoder.norm(x) + generator.bias");
                w.Line($"Kernels.{norm}(_x, _x, w.DecFinalNormW, w.DecFinalNormB);");
                w.Line($"MatVec({I(Job(s, s.TargetVocabSize, s.ModelDim))}, _logits, _x, w.GeneratorW, 0);");
                w.Line($"Kernels.{AddName(s.TargetVocabSize)}(_logits, w.GeneratorB);");
            }
            w.Line();

            w.Line($"/// <summary>xb2 (dim) = per head, softmax(q · k_t / sqrt({I(s.HeadDim)})) over cached positions t = 0..pos, weighted sum of v_t.</summary>");
            using (w.Block("private void CausalAttention(int layer, int pos)"))
            {
                w.Line($"const float Scale = {Literal(scale)}f; // 1 / sqrt(head_dim)");
                w.Line("int layerBase = layer * MaxSequenceLength * ModelDim;");
                using (w.Block("for (int h = 0; h < Heads; h++)"))
                {
                    AttentionEmitter.EmitHead(w, s, Ro("_qkv", "h * HeadDim", "HeadDim"),
                        scores: Rw("_scores", "0", "pos + 1"), count: "pos + 1",
                        keyAt: "layerBase + i * ModelDim + h * HeadDim", keys: "_keyCache",
                        valueAt: "layerBase + i * ModelDim + h * HeadDim", values: "_valueCache",
                        output: Rw("_xb2", "h * HeadDim", "HeadDim"));
                }
            }
            w.Line();

            w.Line($"/// <summary>xb2 (dim) = per head, softmax(q · k_j / sqrt({I(s.HeadDim)})) over the source's unpadded positions j, weighted sum of v_j.</summary>");
            using (w.Block("private void CrossAttention(int layer)"))
            {
                w.Line($"const float Scale = {Literal(scale)}f; // 1 / sqrt(head_dim)");
                w.Line("EncoderOutput m = _memory;");
                w.Line("int layerBase = layer * m.SourceLength * ModelDim;");
                using (w.Block("for (int h = 0; h < Heads; h++)"))
                {
                    AttentionEmitter.EmitHead(w, s, Ro("_q", "h * HeadDim", "HeadDim"),
                        scores: Rw("_scores", "0", "m.KeyCount"), count: "m.KeyCount",
                        keyAt: "layerBase + m.Keys[i] * ModelDim + h * HeadDim", keys: "m.CrossKeys",
                        valueAt: "layerBase + m.Keys[i] * ModelDim + h * HeadDim", values: "m.CrossValues",
                        output: Rw("_xb2", "h * HeadDim", "HeadDim"));
                }
            }
        }
        w.Line();
    }
}
