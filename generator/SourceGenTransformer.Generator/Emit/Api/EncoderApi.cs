using SourceGenTransformer.Generator.Emit.Kernels;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Api;

/// <summary>The public surface of an encoder-only model (BERT): Load, Encode and Embed, over the engine's encoder pass.</summary>
internal static class EncoderApi
{
    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelApi.EmitPoolMembers(w, spec, "Encode and Embed on a disposed model throw");
        ModelApi.EmitLoad(w, spec,
        [
            "Loads the weights from a safetensors file with Hugging Face BERT names (embeddings.word_embeddings.weight,",
            "encoder.layer.{i}.attention.self.query.weight, ...; an optional bert. prefix). F32, F16 and BF16 tensors load.",
            "The model owns worker threads (<see cref=\"global::SourceGenTransformer.ModelOptions.Threads\"/>, default one per processor);",
            "dispose it to stop them.",
        ], llama2C: false);
        EmitEncoderRental(w, spec);

        string errors = Global.Errors;
        w.Line("/// <summary>");
        w.Line("/// The last hidden states of <paramref name=\"tokens\"/> (one unpadded sequence, token type 0): tokens.Length x ModelDim,");
        w.Line("/// row-major. Every position attends to every other.");
        w.Line("/// </summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The sequence is empty, longer than MaxSequenceLength, or holds an id outside [0, VocabSize).</exception>");
        w.Line("/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public float[] Encode({Global.ReadOnlySpanInt} tokens)"))
        {
            w.Line($"if (tokens.IsEmpty) {errors}.EmptyTokens(nameof(tokens));");
            w.Line($"if (tokens.Length > MaxSequenceLength) {errors}.ContextFull(nameof(tokens), 0, tokens.Length, MaxSequenceLength);");
            using (w.Block("for (int t = 0; t < tokens.Length; t++)"))
                w.Line($"if ((uint)tokens[t] >= VocabSize) {errors}.TokenOutOfRange(nameof(tokens), t, tokens[t], VocabSize);");
            w.Line("_pool.ThrowIfDisposed();");
            w.Line("var x = new float[tokens.Length * ModelDim];");
            w.Line($"{spec.EngineType("Encoder")} encoder = RentEncoder();");
            w.Line("encoder.Encode(_weights, tokens, x);");
            w.Line("ReturnEncoder(encoder);");
            w.Line("return x;");
        }
        w.Line();

        w.Line("/// <summary>The sentence embedding: the mean of the last hidden states over the tokens, L2-normalised (ModelDim).</summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The sequence is empty, longer than MaxSequenceLength, or holds an id outside [0, VocabSize).</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public float[] Embed({Global.ReadOnlySpanInt} tokens)"))
        {
            w.Line("float[] hidden = Encode(tokens);");
            w.Line("var embedding = new float[ModelDim];");
            w.Line("for (int t = 0; t < tokens.Length; t++)");
            w.Line($"    {spec.EngineType("Kernels")}.{KernelNames.Add(spec.Shape.ModelDim)}(embedding, new {Global.ReadOnlySpanFloat}(hidden, t * ModelDim, ModelDim));");
            w.Line("double norm = 0;");
            using (w.Block("for (int i = 0; i < ModelDim; i++)"))
            {
                w.Line("embedding[i] /= tokens.Length;");
                w.Line("norm += (double)embedding[i] * embedding[i];");
            }
            w.Line("// As torch.nn.functional.normalize: divide by max(norm, 1e-12).");
            w.Line("float scale = (float)(1.0 / global::System.Math.Max(global::System.Math.Sqrt(norm), 1e-12));");
            w.Line("for (int i = 0; i < ModelDim; i++) embedding[i] *= scale;");
            w.Line("return embedding;");
        }
        w.Line();
    }

    /// <summary>
    /// The encoder scratch (several megabytes) kept between calls: a call takes the one kept from the last call when no
    /// other call holds it, else makes one, so encoding again allocates no scratch and concurrent calls never share it.
    /// </summary>
    public static void EmitEncoderRental(SourceWriter w, ModelSpec spec)
    {
        string encoder = spec.EngineType("Encoder");
        w.Line("/// <summary>The encoder scratch kept between calls (null while a call holds it).</summary>");
        w.Line($"private {encoder}? _spareEncoder;");
        w.Line();
        w.Line($"private {encoder} RentEncoder() =>");
        w.Line($"    global::System.Threading.Interlocked.Exchange(ref _spareEncoder, null) ?? new {encoder}(_pool);");
        w.Line();
        w.Line($"private void ReturnEncoder({encoder} encoder) =>");
        w.Line("    global::System.Threading.Volatile.Write(ref _spareEncoder, encoder);");
        w.Line();
    }
}
