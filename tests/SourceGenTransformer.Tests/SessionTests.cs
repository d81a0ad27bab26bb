using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>Session and decoding-loop contracts: argument errors with their numbers, no allocation, clean stops.</summary>
public class SessionTests
{
    private static readonly LlamaBasic Model = LlamaBasic.Load(Fixture.Path("llama-basic.safetensors"));

    [Theory]
    [InlineData(-1)]
    [InlineData(96)]
    [InlineData(int.MaxValue)]
    public void Token_outside_the_vocabulary_is_rejected_with_the_numbers(int token)
    {
        LlamaBasic.Session session = Model.CreateSession();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(token));
        Assert.Equal("token", e.ParamName);
        Assert.Contains($"Token id {token} is outside the vocabulary [0, 96)", e.Message);
        Assert.Equal(0, session.Position);
    }

    [Fact]
    public void Position_past_the_maximum_is_rejected_with_the_numbers()
    {
        LlamaBasic.Session session = Model.CreateSession();
        for (int i = 0; i < LlamaBasic.MaxSequenceLength; i++) session.Forward(i % 96);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(1));
        Assert.Contains("holds 64 tokens", e.Message);
        Assert.Contains("MaxSequenceLength 64", e.Message);
    }

    [Fact]
    public void A_block_is_checked_whole_before_any_token_is_consumed()
    {
        LlamaBasic.Session session = Model.CreateSession();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward([1, 2, 300, 4]));
        Assert.Contains("Token id 300 at index 2", e.Message);
        Assert.Equal(0, session.Position);

        Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(new int[65]));
        Assert.Throws<ArgumentException>(() => session.Forward(ReadOnlySpan<int>.Empty));
        Assert.Equal(0, session.Position);
    }

    [Fact]
    public void Generate_checks_its_arguments_eagerly()
    {
        Assert.Throws<ArgumentNullException>(() => Model.Generate(null!));
        Assert.Throws<ArgumentException>(() => Model.Generate([]));
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Generate(new int[65]));
        Assert.Contains("MaxSequenceLength 64", tooLong.Message);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Generate([3, -5]));
        Assert.Contains("Token id -5 at index 1", bad.Message);
        var option = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Generate([1], new GenerationOptions { TopP = 0f }));
        Assert.Equal("TopP", option.ParamName);
    }

    [Fact]
    public void Generate_stops_cleanly_when_the_context_is_full()
    {
        int[] prompt = Enumerable.Range(0, 60).Select(i => i % 96).ToArray();
        int[] tokens = Model.Generate(prompt, new GenerationOptions { MaxNewTokens = 100 }).ToArray();
        // 60 prompt tokens + 4 consumed generated tokens fill the 64 positions; the 5th is predicted from a full context.
        Assert.Equal(5, tokens.Length);
    }

    [Fact]
    public void Generate_honours_max_new_tokens_and_stop_tokens()
    {
        Fixture f = Fixture.Read("llama-basic");
        Assert.Equal(f.Greedy.Take(7), Model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = 7 }));
        Assert.Empty(Model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = 0 }));

        int k = Enumerable.Range(1, f.Greedy.Length - 1).First(i => !f.Greedy.Take(i).Contains(f.Greedy[i]));
        int[] stopped = Model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = 32, StopTokens = [f.Greedy[k]] }).ToArray();
        Assert.Equal(f.Greedy.Take(k), stopped);
    }
}

/// <summary>Tests that measure this thread's allocations, run alone (no other test class at the same time).</summary>
[CollectionDefinition(nameof(Isolated), DisableParallelization = true)]
public sealed class Isolated;

/// <summary>
/// Zero bytes per token, measured alone (<see cref="Allocations"/> says why a window may be measured again).
/// </summary>
[Collection(nameof(Isolated))]
public class AllocationTests
{
    [Theory]
    [MemberData(nameof(ParityTests.Fixtures), MemberType = typeof(ParityTests))]
    [MemberData(nameof(ParityTests.QuantisedFixtures), MemberType = typeof(ParityTests))]
    public void Forward_allocates_nothing(string name)
    {
        Fixture f = Fixture.Read(name);
        IDecoderSession session = f.Load().CreateDecoderSession();
        for (int i = 0; i < 64; i++)
        {
            if (i % 30 == 0) session.Reset();
            session.Forward(f.Inputs[i % f.Inputs.Length]); // warm up: first calls may initialise statics
        }
        session.Reset();

        long allocated = Allocations.Fewest(() =>
        {
            for (int i = 0; i < 100; i++)
            {
                if (i % 30 == 0) session.Reset(); // stay inside the shortest context (40)
                session.Forward(f.Inputs[i % f.Inputs.Length]);
            }
        });
        Assert.True(allocated == 0, $"{name}: {allocated} bytes allocated over 100 tokens");
    }

    [Fact]
    public void A_Q4K_model_allocates_nothing_per_token()
    {
        // Random weights quantised at load into Q4_K_M's mix (Q4_K and Q6_K panels), every product through the dispatch.
        string gguf = GgufWriter.RandomLlama(LlamaKQ4K.Layers, LlamaKQ4K.Heads, LlamaKQ4K.KvHeads, LlamaKQ4K.ModelDim,
            LlamaKQ4K.FeedForwardDim, LlamaKQ4K.VocabSize, LlamaKQ4K.MaxSequenceLength, tied: true, seed: 5);
        try
        {
            using LlamaKTiedQ4K model = LlamaKTiedQ4K.Load(gguf);
            LlamaKTiedQ4K.Session session = model.CreateSession();
            for (int i = 0; i < 64; i++)
            {
                if (i % 60 == 0) session.Reset();
                session.Forward(i * 7 % LlamaKTiedQ4K.VocabSize);
            }
            session.Reset();
            long allocated = Allocations.Fewest(() =>
            {
                for (int i = 0; i < 100; i++)
                {
                    if (i % 60 == 0) session.Reset();
                    session.Forward(i * 13 % LlamaKTiedQ4K.VocabSize);
                }
            });
            Assert.True(allocated == 0, $"{allocated} bytes allocated over 100 tokens");
        }
        finally
        {
            File.Delete(gguf);
        }
    }
}
