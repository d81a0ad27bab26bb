using System.Collections.Generic;
using System.Linq;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Api;

/// <summary>
/// The public surface of a decoder-only model (Llama, GPT-2): Load, CreateSession, Generate, the IDecoderModel members,
/// and the Session: argument checks and the one-call-at-a-time guard in front of the engine's decoder.
/// </summary>
internal static class DecoderApi
{
    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        string cls = spec.ClassName;
        ModelApi.EmitPoolMembers(w, spec, "Sessions of a disposed model throw");

        string names = s.Family == Family.Llama
            ? "Hugging Face LlamaForCausalLM names (model.embed_tokens.weight, model.layers.{i}.self_attn.q_proj.weight, ...)"
            : "Hugging Face GPT-2 names (wte.weight, h.{i}.attn.c_attn.weight, ...; an optional transformer. prefix)";
        string precision = s.Precision switch
        {
            Precision.BFloat16 => "kept as bfloat16",
            Precision.Int8 => "quantised to ggml's Q8_0 blocks of 32 (a GGUF file's Q8_0 tensors loaded as they are)",
            Precision.Q4_0 => "quantised to ggml's Q4_0 blocks (a GGUF file's Q4_0 tensors kept as they are)",
            Precision.Q4K => "each in its own ggml block type: a GGUF file's Q4_K, Q6_K, Q5_0, Q4_0 and Q8_0 tensors kept as they are, any other quantised by llama-quantize's Q4_K_M rules",
            _ => "widened to float32",
        };
        var doc = new List<string> { $"Loads the weights from a safetensors file with {names}.", $"F32, F16 and BF16 tensors load (matrices {precision})." };
        if (s.Family == Family.Llama)
        {
            doc.Add("A llama2.c checkpoint (model.bin, version 0 or 1) loads too; its interleaved RoPE rows are permuted to rotate-half at load.");
            doc.Add("So does a GGUF file of the llama, qwen2 or qwen3 architecture (F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K tensors, dequantised");
            doc.Add("as they are read), its metadata checked against this declaration.");
        }
        doc.Add("The model owns worker threads (<see cref=\"global::SourceGenTransformer.ModelOptions.Threads\"/>, default one per processor);");
        doc.Add("dispose it to stop them.");
        ModelApi.EmitLoad(w, spec, doc.ToArray(), llama2C: s.Family == Family.Llama);

        w.Line("/// <summary>");
        w.Line("/// Creates a session: a KV cache and buffers for one sequence, allocated once. A session runs one call at a time (a second");
        w.Line("/// thread gets <see cref=\"global::System.InvalidOperationException\"/>); use one per thread. Sessions share the model's worker threads.");
        w.Line("/// </summary>");
        w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block("public Session CreateSession()"))
        {
            w.Line("_pool.ThrowIfDisposed();");
            w.Line("return new Session(_weights, _pool);");
        }
        w.Line();

        w.Line("/// <summary>Every token id that ends generation (a config.json may list several), or none.</summary>");
        w.Line("public static global::System.ReadOnlySpan<int> EosTokens => " + (s.EosTokens.Count == 0 ? "default;"
            : "new int[] { " + string.Join(", ", s.EosTokens.Select(t => t.ToString(System.Globalization.CultureInfo.InvariantCulture))) + " };"));
        w.Line();
        if (s.HasSamplingDefaults)
        {
            w.Line("/// <summary>");
            w.Line("/// The sampling defaults of generation_config.json, which Generate uses when given no options: a new instance each time.");
            w.Line("/// </summary>");
            w.Line("public static global::SourceGenTransformer.GenerationOptions DefaultGenerationOptions => new()");
            w.Line("{");
            w.Line($"    Temperature = {F(s.SampleTemperature)}, TopK = {I(s.SampleTopK)}, TopP = {F(s.SampleTopP)}, MaxNewTokens = {I(s.SampleMaxNewTokens)},");
            w.Line("};");
            w.Line();
        }
        w.Line("int global::SourceGenTransformer.IDecoderModel.VocabSize => VocabSize;");
        w.Line("int global::SourceGenTransformer.IDecoderModel.MaxSequenceLength => MaxSequenceLength;");
        w.Line("int global::SourceGenTransformer.IDecoderModel.BosToken => BosToken;");
        w.Line("int global::SourceGenTransformer.IDecoderModel.EosToken => EosToken;");
        w.Line("global::SourceGenTransformer.IDecoderSession global::SourceGenTransformer.IDecoderModel.CreateDecoderSession() => CreateSession();");
        w.Line("global::System.Collections.Generic.IReadOnlyList<int> global::SourceGenTransformer.IDecoderModel.EosTokens => EosTokens.ToArray();");
        if (s.HasSamplingDefaults)
            w.Line("global::SourceGenTransformer.GenerationOptions? global::SourceGenTransformer.IDecoderModel.DefaultGenerationOptions => DefaultGenerationOptions;");
        w.Line();

        string options = "global::SourceGenTransformer.GenerationOptions";
        w.Line("/// <summary>");
        w.Line("/// Feeds <paramref name=\"prompt\"/> to a new session and yields generated token ids, one at a time, until");
        w.Line($"/// <see cref=\"{options}.MaxNewTokens\"/>, the EOS token or a stop token (neither is yielded),");
        w.Line("/// or until the session holds <see cref=\"MaxSequenceLength\"/> tokens. Greedy when the temperature is 0.");
        w.Line("/// </summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The prompt is empty, too long, or holds an id outside the vocabulary; or an option is out of range.</exception>");
        w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed (checked at the call, and again at every token).</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public global::System.Collections.Generic.IEnumerable<int> Generate(global::System.Collections.Generic.IReadOnlyList<int> prompt, {options}? options = null)"))
        {
            w.Line("global::System.ArgumentNullException.ThrowIfNull(prompt);");
            w.Line("_pool.ThrowIfDisposed();");
            w.Line(s.HasSamplingDefaults ? "options ??= DefaultGenerationOptions;" : $"options ??= new {options}();");
            w.Line("options.Validate();");
            w.Line($"if (prompt.Count == 0) {Global.Errors}.EmptyTokens(nameof(prompt));");
            w.Line($"if (prompt.Count > MaxSequenceLength) {Global.Errors}.ContextFull(nameof(prompt), 0, prompt.Count, MaxSequenceLength);");
            w.Line("var tokens = new int[prompt.Count];");
            using (w.Block("for (int i = 0; i < tokens.Length; i++)"))
            {
                w.Line("tokens[i] = prompt[i];");
                w.Line($"if ((uint)tokens[i] >= VocabSize) {Global.Errors}.TokenOutOfRange(nameof(prompt), i, tokens[i], VocabSize);");
            }
            w.Line("// Arguments are checked above, eagerly; the iterator below runs lazily as the caller consumes it.");
            w.Line("return GenerateCore(tokens, options);");
        }
        w.Line();
        using (w.Block($"private global::System.Collections.Generic.IEnumerable<int> GenerateCore(int[] prompt, {options} options)"))
        {
            w.Line("if (options.MaxNewTokens == 0) yield break;");
            w.Line("Session session = CreateSession();");
            w.Line("var sampler = new global::SourceGenTransformer.TokenSampler(VocabSize, options, EosTokens);");
            w.Line("int next = sampler.Next(session.Forward(prompt));");
            using (w.Block("for (int produced = 1; ; produced++)"))
            {
                w.Line("if (sampler.IsStop(next)) yield break;");
                w.Line("yield return next;");
                w.Line("// Stop cleanly when the budget is spent or the context is full: there is no room for another token.");
                w.Line("if (produced >= options.MaxNewTokens || session.Position >= MaxSequenceLength) yield break;");
                w.Line("next = sampler.Next(session.Forward(next));");
            }
        }
        w.Line();
        EmitSession(w, spec);
    }

    private static void EmitSession(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        string errors = Global.Errors, span = Global.ReadOnlySpanFloat;
        w.Line("/// <summary>");
        w.Line("/// One sequence being decoded: the KV cache and every activation buffer, allocated once when the session is created.");
        w.Line("/// <see cref=\"Forward(int)\"/> allocates nothing. A session runs one call at a time: a second thread calling into a busy");
        w.Line("/// session gets <see cref=\"global::System.InvalidOperationException\"/>. Sessions of one model share its worker threads.");
        w.Line("/// </summary>");
        w.Line(Global.GeneratedCode);
        using (w.Block("public sealed class Session : global::SourceGenTransformer.IDecoderSession"))
        {
            w.Line($"/// <summary>Prompt tokens run together through each layer (<see cref=\"Forward({Global.ReadOnlySpanInt.Replace("<int>", "{int}")})\"/>).</summary>");
            w.Line($"public const int PromptBlock = {I(s.PromptBlock)};");
            w.Line();
            w.Line($"private readonly {spec.EngineType("Decoder")} _decoder;");
            w.Line($"private {Global.Runtime}SessionGuard _guard; // one call at a time: a second thread gets InvalidOperationException");
            w.Line();
            w.Line($"internal Session({spec.EngineType("Weights")} weights, {Global.Runtime}WorkerPool pool) => _decoder = new(weights, pool);");
            w.Line();
            w.Line($"private Session({spec.EngineType("Decoder")} decoder) => _decoder = decoder;");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// A new session holding a copy of this one's KV cache, position and last logits: continuations of one encoded prefix");
            w.Line("/// (a system prompt, earlier turns) each go on from it without encoding it again. The copy takes the cached rows only;");
            w.Line("/// the two sessions are independent afterwards and share the model's worker threads.");
            w.Line("/// </summary>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            using (w.Block("public Session Fork()"))
            {
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                    w.Line("return new Session(_decoder.Fork());");
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
            }
            w.Line();
            w.Line("/// <summary>Tokens consumed so far: the position the next token will take.</summary>");
            w.Line("public int Position => _decoder.Position;");
            w.Line();
            w.Line("/// <summary>Consumes one token and returns the logits (VocabSize) for the next. The span is valid until the next call.</summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">The token is outside [0, VocabSize), or the session already holds MaxSequenceLength tokens.</exception>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>");
            using (w.Block($"public {span} Forward(int token)"))
            {
                w.Line($"if ((uint)token >= VocabSize) {errors}.TokenOutOfRange(nameof(token), token, VocabSize);");
                w.Line($"if (_decoder.Position >= MaxSequenceLength) {errors}.ContextFull(nameof(token), _decoder.Position, 1, MaxSequenceLength);");
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                {
                    w.Line("_decoder.Step(token);");
                    w.Line("_decoder.Classify();");
                }
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
                w.Line("return _decoder.Logits;");
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
            using (w.Block($"public {span} Forward({Global.ReadOnlySpanInt} tokens)"))
            {
                w.Line("int position = _decoder.Position;");
                w.Line($"if (tokens.IsEmpty) {errors}.EmptyTokens(nameof(tokens));");
                w.Line($"if (tokens.Length > MaxSequenceLength - position) {errors}.ContextFull(nameof(tokens), position, tokens.Length, MaxSequenceLength);");
                using (w.Block("for (int i = 0; i < tokens.Length; i++)"))
                    w.Line($"if ((uint)tokens[i] >= VocabSize) {errors}.TokenOutOfRange(nameof(tokens), i, tokens[i], VocabSize);");
                w.Line("_guard.Enter();");
                using (w.Block("try"))
                {
                    using (w.Block("for (int i = 0; i < tokens.Length; i += PromptBlock)"))
                        w.Line("_decoder.StepBlock(tokens.Slice(i, global::System.Math.Min(PromptBlock, tokens.Length - i)));");
                    w.Line("// Only the last position's logits are needed: its residual stream goes through the classifier.");
                    w.Line("_decoder.Classify();");
                }
                using (w.Block("finally"))
                    w.Line("_guard.Exit();");
                w.Line("return _decoder.Logits;");
            }
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Forgets the tokens from <paramref name=\"position\"/> on, keeping the cached positions before it: a conversation that shares");
            w.Line("/// its first tokens with what the session holds goes on from there without encoding them again. A position's keys and");
            w.Line("/// values depend only on the tokens up to it, so the kept rows are exactly what encoding the prefix again would give.");
            w.Line("/// The next call must be a Forward: the last logits belong to the forgotten tokens.");
            w.Line("/// </summary>");
            w.Line("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">The position is negative or past <see cref=\"Position\"/>.</exception>");
            w.Line("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is using this session.</exception>");
            using (w.Block("public void Rewind(int position)"))
            {
                w.Line("if ((uint)position > (uint)_decoder.Position)");
                w.Line("    throw new global::System.ArgumentOutOfRangeException(nameof(position), position, $\"The session holds {_decoder.Position} tokens; it can go back to a position from 0 to {_decoder.Position}.\");");
                w.Line("_guard.Enter();");
                w.Line("_decoder.Rewind(position);");
                w.Line("_guard.Exit();");
            }
            w.Line();
            w.Line("/// <summary>Forgets every consumed token; the session starts a new sequence at position 0.</summary>");
            w.Line("/// <remarks>The cache is not cleared: a row is always written before it is read.</remarks>");
            using (w.Block("public void Reset()"))
            {
                w.Line("_guard.Enter();");
                w.Line("_decoder.Reset();");
                w.Line("_guard.Exit();");
            }
        }
        w.Line();
    }
}
