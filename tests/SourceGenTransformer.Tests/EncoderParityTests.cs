using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The Seq2Seq engine against torch.nn.Transformer, and BERT against nn.TransformerEncoderLayer (tests/fixtures/make_encoder_fixtures.py).</summary>
public class EncoderParityTests
{
    private const float Tolerance = 1e-4f;

    private static JsonElement Read(string name) =>
        JsonDocument.Parse(File.ReadAllBytes(Fixture.Path(name + ".json"))).RootElement;

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    /// <summary>What the tests need of either Seq2Seq fixture model.</summary>
    private sealed record Seq2Seq(
        Func<int[], Func<int, float[]>> Decoder,
        Func<int[], GenerationOptions, int[]> Translate,
        Func<int[][], GenerationOptions, int[][]> TranslateBatch);

    private static Seq2Seq Open(string name)
    {
        string path = Fixture.Path(name + ".safetensors");
        switch (name)
        {
            case "s2s-post-relu":
            {
                var m = S2sPostRelu.Load(path);
                return new Seq2Seq(src => { var s = m.CreateSession(m.Encode(src)); return t => s.Forward(t).ToArray(); },
                    (src, o) => m.Translate(src, o), (b, o) => m.Translate(b, o));
            }
            case "s2s-pre-gelu":
            {
                var m = S2sPreGelu.Load(path);
                return new Seq2Seq(src => { var s = m.CreateSession(m.Encode(src)); return t => s.Forward(t).ToArray(); },
                    (src, o) => m.Translate(src, o), (b, o) => m.Translate(b, o));
            }
            default:
                throw new ArgumentException(name);
        }
    }

    [Theory]
    [InlineData("s2s-post-relu")]
    [InlineData("s2s-pre-gelu")]
    public void Teacher_forced_logits_match_nn_Transformer(string name)
    {
        JsonElement f = Read(name);
        int[] targetIn = Ints(f.GetProperty("target_in"));
        float[][] expected = f.GetProperty("logits").EnumerateArray().Select(Floats).ToArray();
        Func<int, float[]> step = Open(name).Decoder(Ints(f.GetProperty("source")));
        for (int pos = 0; pos < targetIn.Length; pos++)
        {
            float diff = Fixture.ScaledMaxDiff(step(targetIn[pos]), expected[pos]);
            Assert.True(diff <= Tolerance, $"{name}: position {pos}: scaled max difference {diff:E3}");
        }
    }

    [Theory]
    [InlineData("s2s-post-relu")]
    [InlineData("s2s-pre-gelu")]
    public void Greedy_translation_matches_the_tutorials_greedy_decode(string name)
    {
        JsonElement f = Read(name);
        var options = new GenerationOptions { MaxNewTokens = 16 };
        Assert.Equal(Ints(f.GetProperty("greedy")), Open(name).Translate(Ints(f.GetProperty("source")), options));
    }

    [Theory]
    [InlineData("s2s-post-relu")]
    [InlineData("s2s-pre-gelu")]
    public void Padded_batch_equals_pytorch_and_each_source_alone(string name)
    {
        JsonElement f = Read(name);
        int[][] batch = f.GetProperty("batch").EnumerateArray().Select(Ints).ToArray();
        int[][] expected = f.GetProperty("batch_greedy").EnumerateArray().Select(Ints).ToArray();
        var options = new GenerationOptions { MaxNewTokens = 16 };
        Seq2Seq model = Open(name);
        int[][] together = model.TranslateBatch(batch, options);
        for (int i = 0; i < batch.Length; i++)
        {
            Assert.Equal(expected[i], together[i]);
            Assert.Equal(expected[i], model.Translate(batch[i], options));
        }
    }

    [Theory]
    [InlineData("bert-basic")]
    [InlineData("bert-odd")]
    [InlineData("bert-long")]
    public void Bert_hidden_states_and_embedding_match_pytorch(string name)
    {
        JsonElement f = Read(name);
        int[] tokens = Ints(f.GetProperty("tokens"));
        float[] hidden = f.GetProperty("hidden").EnumerateArray().SelectMany(Floats).ToArray();
        float[] embedding = Floats(f.GetProperty("embedding"));
        string path = Fixture.Path(name + ".safetensors");
        float[] h, e;
        if (name == "bert-basic")
        {
            var model = BertBasic.Load(path);
            (h, e) = (model.Encode(tokens), model.Embed(tokens));
        }
        else if (name == "bert-odd")
        {
            var model = BertOdd.Load(path);
            (h, e) = (model.Encode(tokens), model.Embed(tokens));
        }
        else
        {
            using var model = BertLong.Load(path, new ModelOptions { Threads = 2 });
            (h, e) = (model.Encode(tokens), model.Embed(tokens));
        }
        Assert.Equal(hidden.Length, h.Length);
        float hiddenDiff = Fixture.ScaledMaxDiff(h, hidden), embeddingDiff = Fixture.ScaledMaxDiff(e, embedding);
        Assert.True(hiddenDiff <= Tolerance, $"{name}: hidden states differ by {hiddenDiff:E3}");
        Assert.True(embeddingDiff <= Tolerance, $"{name}: embedding differs by {embeddingDiff:E3}");
        Assert.Equal(1.0, Math.Sqrt(e.Sum(v => (double)v * v)), 5);
    }

    [Fact]
    public void Encoders_on_one_thread_and_three_give_identical_results()
    {
        // Matrix products split by weight rows and attention by positions: every output is computed by exactly one
        // thread in the same order, so the split changes nothing, bit for bit.
        JsonElement f = Read("bert-odd");
        int[] tokens = Ints(f.GetProperty("tokens"));
        using (BertOdd one = BertOdd.Load(Fixture.Path("bert-odd.safetensors"), new ModelOptions { Threads = 1 }))
        using (BertOdd three = BertOdd.Load(Fixture.Path("bert-odd.safetensors"), new ModelOptions { Threads = 3 }))
        {
            Assert.Equal(1, one.Threads);
            Assert.Equal(3, three.Threads);
            Assert.Equal(one.Encode(tokens), three.Encode(tokens));
        }
        // Blocked attention: 150 positions in groups of 32 queries, split across 1, 2 and 3 workers.
        int[] longTokens = Ints(Read("bert-long").GetProperty("tokens"));
        using (BertLong one = BertLong.Load(Fixture.Path("bert-long.safetensors"), new ModelOptions { Threads = 1 }))
        using (BertLong two = BertLong.Load(Fixture.Path("bert-long.safetensors"), new ModelOptions { Threads = 2 }))
        using (BertLong three = BertLong.Load(Fixture.Path("bert-long.safetensors"), new ModelOptions { Threads = 3 }))
        {
            float[] expected = one.Encode(longTokens);
            Assert.Equal(expected, two.Encode(longTokens));
            Assert.Equal(expected, three.Encode(longTokens));
        }

        int[] source = Ints(Read("s2s-pre-gelu").GetProperty("source"));
        using S2sPreGelu a = S2sPreGelu.Load(Fixture.Path("s2s-pre-gelu.safetensors"), new ModelOptions { Threads = 1 });
        using S2sPreGelu b = S2sPreGelu.Load(Fixture.Path("s2s-pre-gelu.safetensors"), new ModelOptions { Threads = 3 });
        S2sPreGelu.Session sa = a.CreateSession(a.Encode(source)), sb = b.CreateSession(b.Encode(source));
        int token = S2sPreGelu.BosToken;
        for (int i = 0; i < 6; i++)
        {
            float[] expected = sa.Forward(token).ToArray();
            Assert.Equal(expected, sb.Forward(token).ToArray());
            token = Sampling.Argmax(expected);
        }
    }

    [Fact]
    public void A_disposed_encoder_model_refuses_to_encode()
    {
        var model = BertOdd.Load(Fixture.Path("bert-odd.safetensors"), new ModelOptions { Threads = 2 });
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Encode([1, 2, 3]));
    }
}
