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
            "encoder.layer.{i}.attention.self.query.weight, ...; an optional bert. prefix), or from an ONNX export (model.onnx, as",
            "transformers and sentence-transformers write it; weights folded into MatMuls take the names of their biases).",
            "F32, F16 and BF16 tensors load. The model owns worker threads (<see cref=\"global::SourceGenTransformer.ModelOptions.Threads\"/>,",
            "default one per processor); dispose it to stop them.",
        ], llama2C: false, onnx: true);
        EmitEncoderRental(w, spec, "_pool, _weights");

        string runs = Global.Runtime + "EncoderRuns";
        string span = "global::System.Span<float>", ints = Global.ReadOnlySpanInt;
        string batch = "global::System.Collections.Generic.IReadOnlyList<int[]>";
        const string Disposed = "/// <exception cref=\"global::System.ObjectDisposedException\">The model was disposed.</exception>";
        const string BadSequence = "/// <exception cref=\"global::System.ArgumentException\">A sequence is empty or longer than MaxSequenceLength, an id or type is out of range, or a span is too short.</exception>";
        void Call(string body)
        {
            w.Line("_pool.ThrowIfDisposed();");
            w.Line($"{spec.EngineType("Encoder")} encoder = RentEncoder();");
            using (w.Block("try"))
                w.Line(body);
            using (w.Block("finally"))
                w.Line("ReturnEncoder(encoder);");
        }

        w.Line("/// <summary>");
        w.Line("/// The last hidden states of <paramref name=\"tokens\"/> (one sequence, token type 0, every token kept): tokens.Length x");
        w.Line("/// ModelDim, row-major.");
        w.Line("/// </summary>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public float[] Encode({ints} tokens)"))
        {
            w.Line("var hidden = new float[tokens.Length * ModelDim];");
            w.Line("Encode(tokens, default, hidden);");
            w.Line("return hidden;");
        }
        w.Line();

        w.Line("/// <summary>lastHiddenState (tokens.Length, ModelDim) = the last hidden states of one sequence, with no allocation.</summary>");
        w.Line("/// <param name=\"tokens\">The token ids, [CLS] and [SEP] included.</param>");
        w.Line("/// <param name=\"tokenTypes\">One type per token in [0, TypeVocabSize) (0 for the first sentence, 1 for the second), or empty for all 0.</param>");
        w.Line("/// <param name=\"lastHiddenState\">Receives tokens.Length x ModelDim floats, row-major.</param>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public void Encode({ints} tokens, {ints} tokenTypes, {span} lastHiddenState)"))
            Call($"{runs}.Encode(encoder, tokens, tokenTypes, lastHiddenState);");
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// The last hidden states of a padded batch, as Hugging Face's BertModel takes one: (batchSize, sequence) ids, mask and");
        w.Line("/// types, row-major. Every position, padding too, attends to the positions its row's mask keeps; positions count from 0 in");
        w.Line("/// each row. Rows run several to a pass.");
        w.Line("/// </summary>");
        w.Line("/// <param name=\"inputIds\">batchSize rows of one length.</param>");
        w.Line("/// <param name=\"attentionMask\">1 for a token, 0 for padding, per id; or empty for all 1.</param>");
        w.Line("/// <param name=\"tokenTypeIds\">A type per id, or empty for all 0.</param>");
        w.Line("/// <param name=\"batchSize\">Rows in the batch.</param>");
        w.Line("/// <param name=\"lastHiddenState\">Receives (batchSize, sequence, ModelDim) floats.</param>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The spans do not make batchSize rows of one length, a row is longer than MaxSequenceLength or keeps no token, or a value is out of range.</exception>");
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public void Encode({ints} inputIds, {ints} attentionMask, {ints} tokenTypeIds, int batchSize, {span} lastHiddenState)"))
            Call($"{runs}.Encode(encoder, inputIds, attentionMask, tokenTypeIds, batchSize, lastHiddenState);");
        w.Line();

        string pooled = spec.Shape.Pooling switch
        {
            Pooling.Cls => "the first token's hidden state ([CLS])",
            Pooling.Max => "the largest value of each dimension over the tokens",
            _ => "the mean of the last hidden states over the tokens",
        };
        string normalized = spec.Shape.NormalizeEmbeddings ? ", L2-normalised" : "";
        w.Line($"/// <summary>The sentence embedding of one sequence (ModelDim): {pooled}{normalized}.</summary>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public float[] Embed({ints} tokens)"))
        {
            w.Line("var embedding = new float[ModelDim];");
            w.Line("Embed(tokens, default, embedding);");
            w.Line("return embedding;");
        }
        w.Line();

        w.Line($"/// <summary>destination (ModelDim) = the sentence embedding of one sequence: {pooled}{normalized}. Allocates nothing.</summary>");
        w.Line("/// <param name=\"tokens\">The token ids, [CLS] and [SEP] included.</param>");
        w.Line("/// <param name=\"destination\">Receives ModelDim floats.</param>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        w.Line($"public void Embed({ints} tokens, {span} destination) => Embed(tokens, default, destination);");
        w.Line();

        w.Line($"/// <summary>destination (ModelDim) = the embedding of one sequence with token types (a sentence pair): {pooled}{normalized}.</summary>");
        w.Line("/// <param name=\"tokens\">The token ids, [CLS] and [SEP] included.</param>");
        w.Line("/// <param name=\"tokenTypes\">One type per token, or empty for all 0.</param>");
        w.Line("/// <param name=\"destination\">Receives ModelDim floats.</param>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public void Embed({ints} tokens, {ints} tokenTypes, {span} destination)"))
            Call($"{runs}.Embed(encoder, tokens, tokenTypes, Pooling, NormalizeEmbeddings, destination);");
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// The embeddings of sequences of mixed lengths, in one call: they are packed without padding into passes of up to");
        w.Line("/// MaxSequenceLength tokens (attention stays inside each sequence), and each pass's work is split across the model's threads.");
        w.Line("/// </summary>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public float[][] Embed({batch} batch)"))
        {
            w.Line("global::System.ArgumentNullException.ThrowIfNull(batch);");
            w.Line("var flat = new float[batch.Count * ModelDim];");
            w.Line("Embed(batch, null, flat);");
            w.Line("var result = new float[batch.Count][];");
            w.Line("for (int i = 0; i < result.Length; i++) result[i] = global::System.MemoryExtensions.AsSpan(flat, i * ModelDim, ModelDim).ToArray();");
            w.Line("return result;");
        }
        w.Line();

        w.Line("/// <summary>destination (batch.Count, ModelDim) = the embeddings of sequences of mixed lengths, packed without padding.</summary>");
        w.Line("/// <param name=\"batch\">The sequences.</param>");
        w.Line("/// <param name=\"tokenTypes\">A type sequence per sequence (an empty or null one for all 0), or null for all 0.</param>");
        w.Line("/// <param name=\"destination\">Receives batch.Count x ModelDim floats.</param>");
        w.Line(BadSequence);
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public void Embed({batch} batch, {batch}? tokenTypes, {span} destination)"))
            Call($"{runs}.Embed(encoder, batch, tokenTypes, Pooling, NormalizeEmbeddings, destination);");
        w.Line();

        w.Line("int global::SourceGenTransformer.IEmbeddingModel.ModelDim => ModelDim;");
        w.Line("int global::SourceGenTransformer.IEmbeddingModel.MaxSequenceLength => MaxSequenceLength;");
        w.Line("int global::SourceGenTransformer.IEmbeddingModel.VocabSize => VocabSize;");
        w.Line("global::SourceGenTransformer.EmbeddingPooling global::SourceGenTransformer.IEmbeddingModel.Pooling => Pooling;");
        w.Line();

        w.Line("/// <summary>destination (batchSize, ModelDim) = the embeddings of a padded batch, as Hugging Face passes one; padding is left out of pooling.</summary>");
        w.Line("/// <param name=\"inputIds\">batchSize rows of one length.</param>");
        w.Line("/// <param name=\"attentionMask\">1 for a token, 0 for padding, per id; or empty for all 1.</param>");
        w.Line("/// <param name=\"tokenTypeIds\">A type per id, or empty for all 0.</param>");
        w.Line("/// <param name=\"batchSize\">Rows in the batch.</param>");
        w.Line("/// <param name=\"destination\">Receives batchSize x ModelDim floats.</param>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The spans do not make batchSize rows of one length, a row is longer than MaxSequenceLength or keeps no token, or a value is out of range.</exception>");
        w.Line(Disposed);
        w.Line(Global.GeneratedCode);
        using (w.Block($"public void Embed({ints} inputIds, {ints} attentionMask, {ints} tokenTypeIds, int batchSize, {span} destination)"))
            Call($"{runs}.Embed(encoder, inputIds, attentionMask, tokenTypeIds, batchSize, Pooling, NormalizeEmbeddings, destination);");
        w.Line();
    }

    /// <summary>
    /// The encoder scratch (several megabytes) kept between calls: a call takes the one kept from the last call when no
    /// other call holds it, else makes one, so encoding again allocates no scratch and concurrent calls never share it.
    /// </summary>
    public static void EmitEncoderRental(SourceWriter w, ModelSpec spec, string arguments = "_pool")
    {
        string encoder = spec.EngineType("Encoder");
        w.Line("/// <summary>The encoder scratch kept between calls (null while a call holds it).</summary>");
        w.Line($"private {encoder}? _spareEncoder;");
        w.Line();
        w.Line($"private {encoder} RentEncoder() =>");
        w.Line($"    global::System.Threading.Interlocked.Exchange(ref _spareEncoder, null) ?? new {encoder}({arguments});");
        w.Line();
        w.Line($"private void ReturnEncoder({encoder} encoder) =>");
        w.Line("    global::System.Threading.Volatile.Write(ref _spareEncoder, encoder);");
        w.Line();
    }
}
