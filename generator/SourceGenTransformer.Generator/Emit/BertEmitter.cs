using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.EncoderEmitter;
using static SourceGenTransformer.Generator.Emit.KernelEmitter;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>Writes the encoder-only BERT family: Hugging Face names, the embedding block, Encode and Embed.</summary>
internal static class BertEmitter
{
    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        string cls = spec.ClassName;
        string norm = NormName(s);

        ModelEmitter.EmitPoolMembers(w, cls, "Encode and Embed on a disposed model throw");
        ModelEmitter.EmitLoad(w, cls,
        [
            "Loads the weights from a safetensors file with Hugging Face BERT names (embeddings.word_embeddings.weight,",
            "encoder.layer.{i}.attention.self.query.weight, ...; an optional bert. prefix). F32, F16 and BF16 tensors load.",
            "The model owns worker threads (<see cref=\"global::SourceGenTransformer.ModelOptions.Threads\"/>, default one per processor); dispose it to stop them.",
        ], withOptions: true);

        w.Line("/// <summary>");
        w.Line("/// The last hidden states of <paramref name=\"tokens\"/> (one unpadded sequence, token type 0): tokens.Length x ModelDim,");
        w.Line("/// row-major. Every position attends to every other.");
        w.Line("/// </summary>");
        w.Line("/// <exception cref=\"global::System.ArgumentException\">The sequence is empty, longer than MaxSequenceLength, or holds an id outside [0, VocabSize).</exception>");
        w.Line(GeneratedCode);
        using (w.Block("public float[] Encode(global::System.ReadOnlySpan<int> tokens)"))
        {
            w.Line("const int D = ModelDim;");
            w.Line($"if (tokens.IsEmpty) {Errors}.EmptyTokens(nameof(tokens));");
            w.Line($"if (tokens.Length > MaxSequenceLength) {Errors}.ContextFull(nameof(tokens), 0, tokens.Length, MaxSequenceLength);");
            w.Line("int length = tokens.Length;");
            w.Line("var keys = new int[length];");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line($"if ((uint)tokens[t] >= VocabSize) {Errors}.TokenOutOfRange(nameof(tokens), t, tokens[t], VocabSize);");
                w.Line("keys[t] = t;");
            }
            w.Line("Weights w = _weights;");
            w.Line("// x (length, dim) = LayerNorm(word_embeddings[token] + position_embeddings[t] + token_type_embeddings[0])");
            w.Line("var x = new float[length * D];");
            using (w.Block("for (int t = 0; t < length; t++)"))
            {
                w.Line("for (int i = 0; i < D; i++) x[t * D + i] = w.TokenEmbedding[tokens[t] * D + i] + w.Position[t * D + i] + w.TokenType[i];");
                w.Line($"Kernels.{norm}({Rw("x", "t * D", "D")}, {Ro("x", "t * D", "D")}, w.EmbNormW, w.EmbNormB);");
            }
            w.Line("EncoderBuffers buffers = RentEncoderBuffers(length);");
            w.Line("for (int l = 0; l < Layers; l++) EncoderLayer(w, l, x, length, keys, length, buffers);");
            w.Line("ReturnEncoderBuffers(buffers);");
            w.Line("return x;");
        }
        w.Line();

        w.Line("/// <summary>The sentence embedding: the mean of the last hidden states over the tokens, L2-normalised (ModelDim).</summary>");
        w.Line(GeneratedCode);
        using (w.Block("public float[] Embed(global::System.ReadOnlySpan<int> tokens)"))
        {
            w.Line("float[] hidden = Encode(tokens);");
            w.Line("var embedding = new float[ModelDim];");
            w.Line("for (int t = 0; t < tokens.Length; t++)");
            w.Line($"    Kernels.{AddName(s.ModelDim)}(embedding, {Ro("hidden", "t * ModelDim", "ModelDim")});");
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

        w.Line("/// <summary>The weights in float32, row-major, layers stacked; query, key and value are fused as nn.MultiheadAttention's in_proj; matrices of a multiple of 32 rows are stored in panels (WeightPacking.ToPanels).</summary>");
        w.Line(GeneratedCode);
        using (w.Block("internal sealed class Weights"))
        {
            w.Line("public readonly float[] TokenEmbedding = new float[VocabSize * ModelDim]; // (vocab, dim) word_embeddings");
            w.Line("public readonly float[] Position = new float[MaxSequenceLength * ModelDim]; // (seq, dim) position_embeddings, first MaxSequenceLength rows");
            w.Line("public readonly float[] TokenType = new float[ModelDim];                  // (dim) token_type_embeddings[0]");
            w.Line("public readonly float[] EmbNormW = new float[ModelDim];                   // (dim) embeddings.LayerNorm");
            w.Line("public readonly float[] EmbNormB = new float[ModelDim];                   // (dim)");
            EmitWeightFields(w, "Layers");
            w.Line();
            using (w.Block("public static Weights Read(global::SourceGenTransformer.TensorSource file)"))
            {
                WeightsEmitter.EmitDeclare(w, spec);
                w.Line("var w = new Weights();");
                w.Line("const int D = ModelDim, F = FeedForwardDim;");
                w.Line("// BertModel saves its tensors bare; BertFor* heads save them under 'bert.'.");
                w.Line("string b = file.Contains(\"bert.embeddings.word_embeddings.weight\") ? \"bert.\" : \"\";");
                w.Line("file.ReadInto(b + \"embeddings.word_embeddings.weight\", new long[] { VocabSize, D }, w.TokenEmbedding);");
                w.Line("file.ReadLeadingRowsInto(b + \"embeddings.position_embeddings.weight\", MaxSequenceLength, D, w.Position);");
                w.Line("file.ReadLeadingRowsInto(b + \"embeddings.token_type_embeddings.weight\", 1, D, w.TokenType);");
                w.Line("file.ReadInto(b + \"embeddings.LayerNorm.weight\", new long[] { D }, w.EmbNormW);");
                w.Line("file.ReadInto(b + \"embeddings.LayerNorm.bias\", new long[] { D }, w.EmbNormB);");
                using (w.Block("for (int l = 0; l < Layers; l++)"))
                {
                    w.Line("string p = b + \"encoder.layer.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
                    w.Line("// query, key, value become rows 0..dim, dim..2 dim, 2 dim..3 dim of the fused projection.");
                    w.Line("string[] qkv = { \"query\", \"key\", \"value\" };");
                    using (w.Block("for (int k = 0; k < 3; k++)"))
                    {
                        w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, "p + \"attention.self.\" + qkv[k] + \".weight\"", "D", "D", "new global::System.Span<float>(w.EncInW, (l * 3 + k) * D * D, D * D)"));
                        w.Line("file.ReadInto(p + \"attention.self.\" + qkv[k] + \".bias\", new long[] { D }, new global::System.Span<float>(w.EncInB, (l * 3 + k) * D, D));");
                    }
                    w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, "p + \"attention.output.dense.weight\"", "D", "D", "new global::System.Span<float>(w.EncOutW, l * D * D, D * D)"));
                    w.Line("file.ReadInto(p + \"attention.output.dense.bias\", new long[] { D }, new global::System.Span<float>(w.EncOutB, l * D, D));");
                    w.Line("file.ReadInto(p + \"attention.output.LayerNorm.weight\", new long[] { D }, new global::System.Span<float>(w.EncNorm1W, l * D, D));");
                    w.Line("file.ReadInto(p + \"attention.output.LayerNorm.bias\", new long[] { D }, new global::System.Span<float>(w.EncNorm1B, l * D, D));");
                    w.Line(WeightsEmitter.ReadMatrix(s, s.FeedForwardDim, "p + \"intermediate.dense.weight\"", "F", "D", "new global::System.Span<float>(w.EncLin1W, l * F * D, F * D)"));
                    w.Line("file.ReadInto(p + \"intermediate.dense.bias\", new long[] { F }, new global::System.Span<float>(w.EncLin1B, l * F, F));");
                    w.Line(WeightsEmitter.ReadMatrix(s, s.ModelDim, "p + \"output.dense.weight\"", "D", "F", "new global::System.Span<float>(w.EncLin2W, l * D * F, D * F)"));
                    w.Line("file.ReadInto(p + \"output.dense.bias\", new long[] { D }, new global::System.Span<float>(w.EncLin2B, l * D, D));");
                    w.Line("file.ReadInto(p + \"output.LayerNorm.weight\", new long[] { D }, new global::System.Span<float>(w.EncNorm2W, l * D, D));");
                    w.Line("file.ReadInto(p + \"output.LayerNorm.bias\", new long[] { D }, new global::System.Span<float>(w.EncNorm2B, l * D, D));");
                }
                w.Line(WeightsEmitter.ThrowIfUnread);
                w.Line("return w;");
            }
        }
        w.Line();
        EncoderEmitter.EmitEncoder(w, s);
    }
}
