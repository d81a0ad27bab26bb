using System;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

public class SamplingTests
{
    private static readonly LlamaBasic Model = LlamaBasic.Load(Fixture.Path("llama-basic.safetensors"));
    private static readonly int[] Prompt = [5, 17, 42];

    [Fact]
    public void Same_seed_gives_the_same_tokens()
    {
        var options = new GenerationOptions { Temperature = 1.2f, TopK = 20, TopP = 0.95f, Seed = 1234, MaxNewTokens = 40 };
        int[] a = Model.Generate(Prompt, options).ToArray();
        int[] b = Model.Generate(Prompt, options).ToArray();
        Assert.Equal(40, a.Length);
        Assert.Equal(a, b);

        int[] c = Model.Generate(Prompt, new GenerationOptions { Temperature = 1.2f, TopK = 20, TopP = 0.95f, Seed = 99, MaxNewTokens = 40 }).ToArray();
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Without_a_seed_each_call_samples_afresh()
    {
        // The defect: Seed defaulted to 42, so every "random" call gave the same text.
        Assert.Null(new GenerationOptions().Seed);
        var options = new GenerationOptions { Temperature = 1.2f, MaxNewTokens = 40 };
        int[][] runs = Enumerable.Range(0, 4).Select(_ => Model.Generate(Prompt, options).ToArray()).ToArray();
        Assert.True(runs.Skip(1).Any(r => !r.SequenceEqual(runs[0])), "four unseeded runs gave the same 40 tokens");
    }

    [Fact]
    public void A_temperature_that_overflows_the_logits_samples_as_greedy()
    {
        // The defect: logits / float.Epsilon overflow to infinity, softmax gives NaN, and every token came back VocabSize - 1.
        int[] greedy = Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 20 }).ToArray();
        foreach (float t in new[] { float.Epsilon, 1e-30f })
            Assert.Equal(greedy, Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 20, Temperature = t, Seed = 3 }).ToArray());
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Non_finite_logits_throw_instead_of_picking_a_token(float bad)
    {
        // The defects: one NaN made greedy pick token 0 forever; one NaN or +Inf made sampling pick VocabSize - 1.
        float[] logits = [0.5f, 2f, bad, 1f];
        var greedy = Assert.Throws<InvalidOperationException>(() => new TokenSampler(4).Next(logits));
        Assert.Contains($"Logit 2 of 4 is {bad}", greedy.Message);
        Assert.Throws<InvalidOperationException>(() => Sampling.Argmax(logits));
        var sampled = new TokenSampler(4, new GenerationOptions { Temperature = 0.7f, TopP = 0.9f, Seed = 1 });
        Assert.Throws<InvalidOperationException>(() => sampled.Next(logits));
    }

    [Fact]
    public void Finite_logits_whose_sum_overflows_are_still_finite()
    {
        float[] logits = [float.MaxValue, float.MaxValue, -1f];
        Assert.Equal(0, Sampling.Argmax(logits));
    }

    [Fact]
    public void Top_k_of_one_equals_greedy()
    {
        int[] greedy = Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 20 }).ToArray();
        int[] topOne = Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 20, Temperature = 1.5f, TopK = 1, Seed = 5 }).ToArray();
        Assert.Equal(greedy, topOne);
    }

    [Theory]
    [InlineData(0.79f, 2)]  // 0.5 + 0.3 reaches 0.79
    [InlineData(0.81f, 3)]  // needs the third token
    [InlineData(0.5f, 1)]
    [InlineData(1.0f, 4)]
    public void Top_p_keeps_the_smallest_set_whose_mass_reaches_p(float p, int expectedSize)
    {
        float[] probs = [0.15f, 0.5f, 0.05f, 0.3f];
        float[] logits = probs.Select(x => MathF.Log(x)).ToArray();
        int[] nucleus = [1, 3, 0, 2]; // most likely first
        var sampler = new TokenSampler(4, new GenerationOptions { Temperature = 1f, TopP = p, Seed = 7 });
        var counts = new int[4];
        for (int i = 0; i < 4000; i++) counts[sampler.Next(logits)]++;

        for (int rank = 0; rank < 4; rank++)
        {
            int id = nucleus[rank];
            if (rank < expectedSize) Assert.True(counts[id] > 0, $"token {id} (rank {rank}) should be sampled with p = {p}");
            else Assert.Equal(0, counts[id]);
        }
        // Within the nucleus, frequencies follow the renormalised probabilities.
        float mass = nucleus.Take(expectedSize).Sum(id => probs[id]);
        Assert.InRange(counts[1] / 4000f, 0.5f / mass - 0.04f, 0.5f / mass + 0.04f);
    }

    [Fact]
    public void Tiny_top_p_falls_back_to_the_most_likely_token()
    {
        // A near-uniform distribution with p below 1/n: the pre-filter keeps nothing; the nucleus is the top token.
        float[] logits = [0.01f, 0f, 0.02f, 0f];
        var sampler = new TokenSampler(4, new GenerationOptions { Temperature = 1f, TopP = 0.05f, Seed = 1 });
        Assert.Equal(2, sampler.Next(logits));
    }

    [Fact]
    public void Top_k_keeps_only_the_k_most_likely()
    {
        float[] logits = [0.1f, 2f, 1.5f, -1f, 1.9f, 0f];
        var sampler = new TokenSampler(6, new GenerationOptions { Temperature = 3f, TopK = 3, Seed = 3 });
        var seen = Enumerable.Range(0, 3000).Select(_ => sampler.Next(logits)).Distinct().OrderBy(x => x).ToArray();
        Assert.Equal([1, 2, 4], seen);
    }

    [Fact]
    public void Random_stream_is_fixed_bit_for_bit()
    {
        // Known answers from an independent implementation of SplitMix64 seeding + xorshift64* (Python, 64-bit arithmetic).
        ulong state = SamplerRandom.Seed(42);
        uint[] first = [.. Enumerable.Range(0, 4).Select(_ => SamplerRandom.NextUInt32(ref state))];
        Assert.Equal(KnownAnswers, first);
    }

    // From tests/fixtures/random_known_answers.py.
    private static readonly uint[] KnownAnswers = [833678567u, 2416485297u, 2087809963u, 1164389516u];

    [Fact]
    public void Argmax_takes_the_first_of_equal_maxima()
    {
        Assert.Equal(1, Sampling.Argmax([0f, 3f, 3f, 1f]));
    }
}
