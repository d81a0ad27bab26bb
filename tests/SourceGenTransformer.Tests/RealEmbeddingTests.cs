using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace SourceGenTransformer.Tests;

/// <summary>
/// all-MiniLM-L6-v2 and arctic-embed-xs, loaded from the very ONNX files of their NuGet packages, against ONNX Runtime
/// running the same files: last hidden states within 1e-4 (scaled), pooled embeddings with cosine at least 0.99999, for
/// sentences alone, padded batches, ragged batches and sentence pairs.
/// </summary>
public sealed class RealEmbeddingTests : IClassFixture<RealEmbeddingTests.Engines>
{
    private const float Tolerance = 1e-4f;
    private const double MinCosine = 0.99999;

    /// <summary>Both models, ours and ONNX Runtime's, loaded once for the class.</summary>
    public sealed class Engines : IDisposable
    {
        public MiniLM MiniLM { get; } = MiniLM.Load(RealModels.MiniLMOnnx, new ModelOptions { Threads = 2 });
        public ArcticXs Arctic { get; } = ArcticXs.Load(RealModels.ArcticOnnx, new ModelOptions { Threads = 2 });
        public InferenceSession OrtMiniLM { get; } = Session(RealModels.MiniLMOnnx);
        public InferenceSession OrtArctic { get; } = Session(RealModels.ArcticOnnx);

        private static InferenceSession Session(string path)
        {
            using var options = new SessionOptions { IntraOpNumThreads = 2 };
            return new InferenceSession(path, options);
        }

        public void Dispose()
        {
            MiniLM.Dispose();
            Arctic.Dispose();
            OrtMiniLM.Dispose();
            OrtArctic.Dispose();
        }
    }

    /// <summary>One model as the tests drive it: our calls beside ONNX Runtime's session.</summary>
    private sealed record Model(
        string Name,
        EmbeddingPooling Pooling,
        InferenceSession Ort,
        Action<int[], int[]?, float[]> Encode,
        Action<int[], int[]?, float[]> Embed,
        Action<int[], int[], int, float[]> EncodePadded,
        Action<int[], int[], int, float[]> EmbedPadded,
        Func<IReadOnlyList<int[]>, float[][]> EmbedRagged);

    private readonly Engines _engines;
    private readonly ITestOutputHelper _output;

    public RealEmbeddingTests(Engines engines, ITestOutputHelper output)
    {
        _engines = engines;
        _output = output;
    }

    private Model Get(string name) => name switch
    {
        "minilm" => new Model(name, EmbeddingPooling.Mean, _engines.OrtMiniLM,
            (t, ty, h) => _engines.MiniLM.Encode(t, ty, h), (t, ty, e) => _engines.MiniLM.Embed(t, ty, e),
            (ids, mask, n, h) => _engines.MiniLM.Encode(ids, mask, default, n, h), (ids, mask, n, e) => _engines.MiniLM.Embed(ids, mask, default, n, e),
            b => _engines.MiniLM.Embed(b)),
        _ => new Model(name, EmbeddingPooling.Cls, _engines.OrtArctic,
            (t, ty, h) => _engines.Arctic.Encode(t, ty, h), (t, ty, e) => _engines.Arctic.Embed(t, ty, e),
            (ids, mask, n, h) => _engines.Arctic.Encode(ids, mask, default, n, h), (ids, mask, n, e) => _engines.Arctic.Embed(ids, mask, default, n, e),
            b => _engines.Arctic.Embed(b)),
    };

    private static int[] Tokens(string text) => RealModels.Tokenizer.EncodeToIds(text).ToArray();

    /// <summary>ONNX Runtime's last_hidden_state for (batch, length) ids, mask and types.</summary>
    private static float[] OrtHidden(InferenceSession session, int[] ids, int[] mask, int[]? types, int batch)
    {
        int length = ids.Length / batch;
        var dims = new[] { batch, length };
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Select(x => (long)x).ToArray(), dims)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask.Select(x => (long)x).ToArray(), dims)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>((types ?? new int[ids.Length]).Select(x => (long)x).ToArray(), dims)),
        };
        using var results = session.Run(inputs);
        return results.First(r => r.Name == "last_hidden_state").AsTensor<float>().ToArray();
    }

    /// <summary>sentence-transformers' pooling and normalisation, written here from its definition, over ONNX Runtime's states.</summary>
    private static float[] ReferencePool(ReadOnlySpan<float> hidden, ReadOnlySpan<int> mask, EmbeddingPooling pooling)
    {
        const int D = 384;
        var e = new double[D];
        if (pooling == EmbeddingPooling.Cls)
        {
            for (int i = 0; i < D; i++) e[i] = hidden[i];
        }
        else
        {
            int kept = 0;
            for (int t = 0; t < mask.Length; t++)
            {
                if (mask[t] == 0) continue;
                kept++;
                for (int i = 0; i < D; i++) e[i] += hidden[t * D + i];
            }
            for (int i = 0; i < D; i++) e[i] /= kept;
        }
        double norm = Math.Sqrt(e.Sum(x => x * x));
        return e.Select(x => (float)(x / Math.Max(norm, 1e-12))).ToArray();
    }

    internal static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    [Theory]
    [InlineData("minilm")]
    [InlineData("arctic")]
    public void Every_sentence_alone_matches_onnx_runtime(string name)
    {
        Model m = Get(name);
        Assert.True(EmbeddingSentences.All.Length >= 60);
        Assert.Contains(EmbeddingSentences.All, s => Tokens(s).Length > 128);
        float worst = 0;
        double worstCosine = 1;
        foreach (string text in EmbeddingSentences.All)
        {
            int[] ids = Tokens(text);
            int[] mask = Enumerable.Repeat(1, ids.Length).ToArray();
            float[] expected = OrtHidden(m.Ort, ids, mask, null, 1);
            var hidden = new float[ids.Length * 384];
            m.Encode(ids, null, hidden);
            float diff = Fixture.ScaledMaxDiff(hidden, expected);
            Assert.True(diff <= Tolerance, $"{name}: \"{text}\" ({ids.Length} tokens): hidden states differ by {diff:E3} (scaled)");
            var embedding = new float[384];
            m.Embed(ids, null, embedding);
            double cosine = Cosine(embedding, ReferencePool(expected, mask, m.Pooling));
            Assert.True(cosine >= MinCosine, $"{name}: \"{text}\": cosine {cosine:F8}");
            worst = Math.Max(worst, diff);
            worstCosine = Math.Min(worstCosine, cosine);
        }
        _output.WriteLine($"{name}: {EmbeddingSentences.All.Length} sentences, largest scaled difference {worst:E3}, smallest cosine {worstCosine:F9}");
    }

    [Theory]
    [InlineData("minilm")]
    [InlineData("arctic")]
    public void Padded_batches_match_onnx_runtime_padding_included(string name)
    {
        Model m = Get(name);
        float worst = 0;
        foreach (string[] group in EmbeddingSentences.All.Chunk(8))
        {
            int[][] tokens = group.Select(Tokens).ToArray();
            int length = tokens.Max(t => t.Length), batch = tokens.Length;
            var ids = new int[batch * length];
            var mask = new int[batch * length];
            for (int r = 0; r < batch; r++)
            {
                tokens[r].CopyTo(ids, r * length);
                for (int t = 0; t < tokens[r].Length; t++) mask[r * length + t] = 1;
            }
            float[] expected = OrtHidden(m.Ort, ids, mask, null, batch);
            var hidden = new float[batch * length * 384];
            m.EncodePadded(ids, mask, batch, hidden);
            // Every position, padding too: BertModel computes padding positions as queries over the kept keys.
            float diff = Fixture.ScaledMaxDiff(hidden, expected);
            Assert.True(diff <= Tolerance, $"{name}: padded batch of {batch} x {length}: hidden states differ by {diff:E3}");
            worst = Math.Max(worst, diff);

            var embeddings = new float[batch * 384];
            m.EmbedPadded(ids, mask, batch, embeddings);
            for (int r = 0; r < batch; r++)
            {
                float[] reference = ReferencePool(expected.AsSpan(r * length * 384, length * 384), mask.AsSpan(r * length, length), m.Pooling);
                double cosine = Cosine(embeddings.AsSpan(r * 384, 384), reference);
                Assert.True(cosine >= MinCosine, $"{name}: padded row {r} (\"{group[r]}\"): cosine {cosine:F8}");
            }
        }
        _output.WriteLine($"{name}: padded batches of 8, largest scaled difference {worst:E3}");
    }

    [Theory]
    [InlineData("minilm")]
    [InlineData("arctic")]
    public void Ragged_batch_matches_onnx_runtime_one_sentence_at_a_time(string name)
    {
        Model m = Get(name);
        int[][] tokens = EmbeddingSentences.All.Select(Tokens).ToArray();
        // The sentences in one call: packed into passes of up to 512 tokens, several sentences a pass.
        float[][] together = m.EmbedRagged(tokens);
        Assert.Equal(tokens.Length, together.Length);
        double worst = 1;
        for (int i = 0; i < tokens.Length; i++)
        {
            int[] mask = Enumerable.Repeat(1, tokens[i].Length).ToArray();
            float[] reference = ReferencePool(OrtHidden(m.Ort, tokens[i], mask, null, 1), mask, m.Pooling);
            double cosine = Cosine(together[i], reference);
            Assert.True(cosine >= MinCosine, $"{name}: ragged item {i} (\"{EmbeddingSentences.All[i]}\"): cosine {cosine:F8}");
            worst = Math.Min(worst, cosine);
        }
        _output.WriteLine($"{name}: ragged batch of {tokens.Length}, smallest cosine {worst:F9}");
    }

    [Theory]
    [InlineData("minilm")]
    [InlineData("arctic")]
    public void Sentence_pairs_with_token_types_match_onnx_runtime(string name)
    {
        Model m = Get(name);
        foreach ((string a, string b, string c) in EmbeddingSentences.Retrieval)
        {
            foreach (string second in new[] { b, c })
            {
                var first = RealModels.Tokenizer.EncodeToIds(a, addSpecialTokens: false);
                var other = RealModels.Tokenizer.EncodeToIds(second, addSpecialTokens: false);
                int[] ids = RealModels.Tokenizer.BuildInputsWithSpecialTokens(first, other).ToArray();
                int[] types = RealModels.Tokenizer.CreateTokenTypeIdsFromSequences(first, other).ToArray();
                Assert.Contains(1, types);
                int[] mask = Enumerable.Repeat(1, ids.Length).ToArray();
                float[] expected = OrtHidden(m.Ort, ids, mask, types, 1);
                var hidden = new float[ids.Length * 384];
                m.Encode(ids, types, hidden);
                float diff = Fixture.ScaledMaxDiff(hidden, expected);
                Assert.True(diff <= Tolerance, $"{name}: pair (\"{a}\", \"{second}\"): hidden states differ by {diff:E3}");
                var embedding = new float[384];
                m.Embed(ids, types, embedding);
                Assert.True(Cosine(embedding, ReferencePool(expected, mask, m.Pooling)) >= MinCosine);
            }
        }
    }

    [Theory]
    [InlineData("minilm")]
    [InlineData("arctic")]
    public void Paraphrases_score_higher_than_unrelated_text(string name)
    {
        Model m = Get(name);
        foreach ((string text, string paraphrase, string unrelated) in EmbeddingSentences.Retrieval)
        {
            var e = new float[3][];
            string[] texts = [text, paraphrase, unrelated];
            for (int i = 0; i < 3; i++)
            {
                e[i] = new float[384];
                m.Embed(Tokens(texts[i]), null, e[i]);
            }
            double near = Cosine(e[0], e[1]), far = Cosine(e[0], e[2]);
            _output.WriteLine($"{name}: {near:F3} vs {far:F3}  \"{text}\" ~ \"{paraphrase}\" / \"{unrelated}\"");
            Assert.True(near > far, $"{name}: \"{text}\": paraphrase {near:F4} <= unrelated {far:F4}");
        }
    }
}
