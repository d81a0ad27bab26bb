using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The generated engines against PyTorch on the same weights (fixtures from tests/fixtures/make_fixtures.py).</summary>
public class ParityTests
{
    /// <summary>
    /// Declared by config.json (make_hf_fixtures.py): llama3 RoPE scaling, Qwen2's q/k/v biases, Mistral's sliding window, an
    /// explicit head_dim (heads x head_dim != hidden_size), Llama's attention_bias and mlp_bias, Qwen3's q_norm and k_norm,
    /// Gemma's norms, scale and GeGLU, Phi-3's fused projections, partial rotary embedding and sliding window. Their prompts
    /// run longer than their sliding windows and original RoPE contexts.
    /// </summary>
    private static readonly string[] HfNames =
    [
        "hf-llama3-scaled", "hf-llama3-scaled-odd", "hf-qwen2-tied", "hf-qwen2-mqa", "hf-mistral-window", "hf-mistral-window-odd",
        "hf-llama-head-dim", "hf-llama-bias", "hf-qwen3-tied", "hf-qwen3-narrow", "hf-gemma-mqa", "hf-gemma-split", "hf-phi3-partial", "hf-phi3-window",
    ];

    public static TheoryData<string> Fixtures => new(
    [
        "llama-basic", "llama-gqa-tied", "llama-odd", "gpt2-basic", "gpt2-odd", "gpt2-relu",
        // Lighter weights against PyTorch running the same conversion (make_precision_fixtures.py).
        "llama-basic-bf16", "gpt2-basic-bf16",
        .. HfNames,
    ]);

    /// <summary>
    /// Int8 (Q8_0) and Q4_0 weights, each product's input quantised to 8 bits per block of 32 as llama.cpp does, against PyTorch running
    /// the same scheme (make_precision_fixtures.py). That input rounding is not continuous: an activation within float32
    /// rounding of a half step lands on one code in one computation and on its neighbour in another (ours and PyTorch's,
    /// or a prompt block's and decoding's), so these agree to float32 rounding (about 1e-7) until such a code, and then
    /// within <see cref="QuantisedTolerance"/>; greedy ids are compared wherever the margin exceeds that (see below).
    /// </summary>
    public static TheoryData<string> QuantisedFixtures => new(["llama-basic-int8", "gpt2-basic-int8", "storyteller-int8", "llama-basic-q4_0", "gpt2-basic-q4_0", "storyteller-q4_0"]);

    /// <summary>
    /// One 8-bit activation code off by one moves its product by one step (1/127 of its block's largest magnitude) times a
    /// weight, a few 1e-3 of a logit after the layers above it; the key and value cache carries it to later positions.
    /// Measured worst: 1.1e-2 (llama-basic-q4_0 from position 11), positions before the first such code 1e-7.
    /// </summary>
    private const float QuantisedTolerance = 2e-2f;

    private static float ToleranceOf(string name) => name.EndsWith("-q4_0", StringComparison.Ordinal) || name.EndsWith("-int8", StringComparison.Ordinal) ? QuantisedTolerance : Tolerance;

    /// <summary>The config.json fixtures (<see cref="HfNames"/>).</summary>
    public static TheoryData<string> HfFixtures => new(HfNames);

    [Theory]
    [MemberData(nameof(HfFixtures))]
    public void Prompt_blocks_match_pytorch_at_every_position(string name)
    {
        // Each prefix of the sequence as one prompt block in a fresh session: the block path (block attention, and the
        // window over keys laid out for the block) at every position, not only the prompt's last.
        Fixture f = Fixture.Read(name);
        IDecoderModel model = f.Load();
        for (int pos = 0; pos < f.Inputs.Length; pos++)
        {
            IDecoderSession session = model.CreateDecoderSession();
            ReadOnlySpan<float> logits = session.Forward(f.Inputs.AsSpan(0, pos + 1));
            float diff = Fixture.ScaledMaxDiff(logits, f.Logits[pos]);
            Assert.True(diff <= Tolerance, $"{name}: block of {pos + 1}: scaled max difference {diff:E3} > {Tolerance:E0}");
        }

        // A block that starts after earlier positions: the window reaches back into keys an earlier call wrote.
        IDecoderSession split = model.CreateDecoderSession();
        int half = f.Inputs.Length / 2;
        split.Forward(f.Inputs.AsSpan(0, half));
        float after = Fixture.ScaledMaxDiff(split.Forward(f.Inputs.AsSpan(half)), f.Logits[^1]);
        Assert.True(after <= Tolerance, $"{name}: second block: scaled max difference {after:E3}");
    }

    private const float Tolerance = 1e-4f;

    [Theory]
    [MemberData(nameof(Fixtures))]
    [MemberData(nameof(QuantisedFixtures))]
    public void Logits_match_pytorch_at_every_position(string name)
    {
        Fixture f = Fixture.Read(name);
        IDecoderSession session = f.Load().CreateDecoderSession();
        Assert.Equal(f.Inputs.Length, f.Logits.Length);
        for (int pos = 0; pos < f.Inputs.Length; pos++)
        {
            ReadOnlySpan<float> logits = session.Forward(f.Inputs[pos]);
            Assert.Equal(f.Logits[pos].Length, logits.Length);
            float diff = Fixture.ScaledMaxDiff(logits, f.Logits[pos]);
            Assert.True(diff <= ToleranceOf(name), $"{name}: position {pos}: scaled max difference {diff:E3} > {ToleranceOf(name):E0}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    [MemberData(nameof(QuantisedFixtures))]
    public void Prompt_block_gives_the_same_logits_as_one_token_at_a_time(string name)
    {
        Fixture f = Fixture.Read(name);
        IDecoderSession session = f.Load().CreateDecoderSession();
        float[] block = session.Forward(f.Prompt).ToArray();
        Assert.Equal(f.Prompt.Length, session.Position);
        float diff = Fixture.ScaledMaxDiff(block, f.Logits[f.Prompt.Length - 1]);
        Assert.True(diff <= ToleranceOf(name), $"{name}: scaled max difference {diff:E3}");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Greedy_tokens_match_pytorch(string name)
    {
        Fixture f = Fixture.Read(name);
        IDecoderModel model = f.Load();

        // Through the session, token by token.
        IDecoderSession session = model.CreateDecoderSession();
        var tokens = new List<int>();
        int next = Sampling.Argmax(session.Forward(f.Prompt));
        for (int i = 0; i < f.Greedy.Length; i++)
        {
            tokens.Add(next);
            if (i + 1 < f.Greedy.Length) next = Sampling.Argmax(session.Forward(next));
        }
        Assert.Equal(f.Greedy, tokens);

        // Through the typed decoding loop.
        int[] generated = model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = f.Greedy.Length }).ToArray();
        Assert.Equal(f.Greedy, generated);
    }

    [Theory]
    [MemberData(nameof(QuantisedFixtures))]
    public void Quantised_argmax_equals_pytorchs_wherever_its_margin_exceeds_the_activation_rounding(string name)
    {
        // Teacher-forced along PyTorch's greedy path: where PyTorch's top two logits are further apart than twice the
        // tolerance, a difference within it cannot change the argmax. Most positions must be that clear.
        Fixture f = Fixture.Read(name);
        IDecoderSession session = f.Load().CreateDecoderSession();
        int checkedPositions = 0;
        for (int pos = 0; pos < f.Inputs.Length; pos++)
        {
            int ours = Sampling.Argmax(session.Forward(f.Inputs[pos]));
            float[] expected = f.Logits[pos];
            float scale = MathF.Max(1f, expected.Max(MathF.Abs));
            float[] top = expected.OrderByDescending(v => v).Take(2).ToArray();
            if (top[0] - top[1] <= 2 * QuantisedTolerance * scale) continue;
            checkedPositions++;
            Assert.True(Array.IndexOf(expected, top[0]) == ours, $"{name}: position {pos}: argmax {ours}, PyTorch's {Array.IndexOf(expected, top[0])}");
        }
        Assert.True(checkedPositions * 2 >= f.Inputs.Length, $"{name}: only {checkedPositions} of {f.Inputs.Length} positions have a clear argmax");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    [MemberData(nameof(QuantisedFixtures))]
    public void One_thread_and_several_give_identical_logits(string name)
    {
        Fixture f = Fixture.Read(name);
        IDecoderModel one = f.Load(new ModelOptions { Threads = 1 }), three = f.Load(new ModelOptions { Threads = 3 });
        IDecoderSession a = one.CreateDecoderSession(), b = three.CreateDecoderSession();
        // The prompt as one block, then token by token: both paths, compared bit for bit.
        Assert.Equal(a.Forward(f.Prompt).ToArray(), b.Forward(f.Prompt).ToArray());
        for (int pos = f.Prompt.Length; pos < f.Inputs.Length; pos++)
            Assert.Equal(a.Forward(f.Inputs[pos]).ToArray(), b.Forward(f.Inputs[pos]).ToArray());
        ((IDisposable)one).Dispose();
        ((IDisposable)three).Dispose();
    }

    [Fact]
    public void Bfloat16_declaration_of_a_bfloat16_file_decodes_like_float32_to_rounding()
    {
        // The story model is stored in bfloat16, so widening is exact. Its float32 declaration keeps matrices in panels
        // (outer products summing each output in column order) while the bfloat16 kernels are dot products over rows:
        // the same values, summed in a different order, so equal to float32 rounding: within 1e-5 of the position's
        // largest logit (the rounding of a sum follows the size of its terms, not of its result).
        using StoryTellerBf16 bf16 = StoryTellerBf16.Load(Fixture.ModelPath("storyteller.safetensors"));
        using SourceGenTransformer.Models.StoryTellerModel f32 = SourceGenTransformer.Models.StoryTellerModel.Load(Fixture.ModelPath("storyteller.safetensors"));
        StoryTellerBf16.Session a = bf16.CreateSession();
        SourceGenTransformer.Models.StoryTellerModel.Session b = f32.CreateSession();
        for (int i = 0; i < 20; i++)
        {
            float[] f = b.Forward(i * 37 % 1024).ToArray(), h = a.Forward(i * 37 % 1024).ToArray();
            float scale = MathF.Max(1f, f.Max(MathF.Abs));
            for (int j = 0; j < f.Length; j++)
                Assert.True(MathF.Abs(f[j] - h[j]) <= 1e-5f * scale, $"position {i}, logit {j}: {h[j]} vs {f[j]} (largest logit {scale})");
        }

        // A prompt block: the same, through the matrix-matrix kernels.
        a.Reset();
        b.Reset();
        int[] tokens = [1, 419, 932, 347, 499, 266, 261, 576];
        float[] expected = b.Forward(tokens).ToArray(), actual = a.Forward(tokens).ToArray();
        float largest = MathF.Max(1f, expected.Max(MathF.Abs));
        for (int j = 0; j < expected.Length; j++)
            Assert.True(MathF.Abs(expected[j] - actual[j]) <= 1e-5f * largest, $"logit {j}: {actual[j]} vs {expected[j]} (largest logit {largest})");
    }

    [Fact]
    public void Long_prompts_in_blocks_agree_with_token_by_token_decoding_and_any_thread_count()
    {
        // 200 positions of the trained story model in two calls (blocks of PromptBlock after earlier positions): block
        // attention walks several blocks of 64 keys with groups of 32 queries, laying out each key head once for the
        // query heads that share it (6 heads, 2 key heads). Decoding reads the cache one position at a time instead.
        int[] tokens = Enumerable.Range(0, 200).Select(i => (i * 37 + 11) % 1024).ToArray();
        string path = Fixture.ModelPath("storyteller.safetensors");
        using var one = SourceGenTransformer.Models.StoryTellerModel.Load(path, new ModelOptions { Threads = 1 });
        using var three = SourceGenTransformer.Models.StoryTellerModel.Load(path, new ModelOptions { Threads = 3 });
        var a = one.CreateSession();
        var b = three.CreateSession();
        a.Forward(tokens.AsSpan(0, 70));
        b.Forward(tokens.AsSpan(0, 70));
        float[] block = a.Forward(tokens.AsSpan(70)).ToArray();
        Assert.Equal(block, b.Forward(tokens.AsSpan(70)).ToArray());

        var steps = one.CreateSession();
        float[] last = [];
        foreach (int token in tokens) last = steps.Forward(token).ToArray();
        float diff = Fixture.ScaledMaxDiff(block, last);
        Assert.True(diff <= Tolerance, $"prompt blocks and decoding differ by {diff:E3}");
    }

    [Fact]
    public void Reset_starts_a_new_sequence_with_identical_logits()
    {
        Fixture f = Fixture.Read("llama-odd");
        IDecoderSession session = f.Load().CreateDecoderSession();
        float[] first = session.Forward(f.Inputs.AsSpan(0, 10)).ToArray();
        session.Reset();
        Assert.Equal(0, session.Position);
        float[] second = session.Forward(f.Inputs.AsSpan(0, 10)).ToArray();
        Assert.Equal(first, second);
    }
}
