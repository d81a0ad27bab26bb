using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The generated engines against PyTorch on the same weights (fixtures from tests/fixtures/make_fixtures.py).</summary>
public class ParityTests
{
    public static TheoryData<string> Fixtures => new() { "llama-basic", "llama-gqa-tied", "llama-odd", "gpt2-basic", "gpt2-odd", "gpt2-relu" };

    private const float Tolerance = 1e-4f;

    [Theory]
    [MemberData(nameof(Fixtures))]
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
            Assert.True(diff <= Tolerance, $"{name}: position {pos}: scaled max difference {diff:E3} > {Tolerance:E0}");
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Prompt_block_gives_the_same_logits_as_one_token_at_a_time(string name)
    {
        Fixture f = Fixture.Read(name);
        IDecoderSession session = f.Load().CreateDecoderSession();
        float[] block = session.Forward(f.Prompt).ToArray();
        Assert.Equal(f.Prompt.Length, session.Position);
        float diff = Fixture.ScaledMaxDiff(block, f.Logits[f.Prompt.Length - 1]);
        Assert.True(diff <= Tolerance, $"{name}: scaled max difference {diff:E3}");
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
