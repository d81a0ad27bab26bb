using System;
using System.IO;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Whole Q4K models (every matrix a BlockMatrix in its own type): one thread and three give the same bits, for a
/// prompt block and token by token, on a K-quant mix (the random eight-layer model quantised at load by Q4_K_M's
/// rules: Q4_K and Q6_K panels, rows split between threads in whole panels) and on fallback blocks of 32 (llama-basic's
/// rows of 64 and 160: Q5_0 and Q8_0). Their agreement with llama.cpp is LlamaCppTests'.
/// </summary>
public sealed class BlockModelTests
{
    private static void SameOnAnyThreadCount(Func<ModelOptions, IDecoderModel> load, int[] prompt, int[] tokens)
    {
        IDecoderModel one = load(new ModelOptions { Threads = 1 }), three = load(new ModelOptions { Threads = 3 });
        try
        {
            IDecoderSession a = one.CreateDecoderSession(), b = three.CreateDecoderSession();
            Assert.Equal(a.Forward(prompt).ToArray(), b.Forward(prompt).ToArray());
            foreach (int t in tokens) Assert.Equal(a.Forward(t).ToArray(), b.Forward(t).ToArray());
        }
        finally
        {
            ((IDisposable)one).Dispose();
            ((IDisposable)three).Dispose();
        }
    }

    [Fact]
    public void A_K_quant_mix_gives_the_same_bits_on_one_thread_and_three()
    {
        string gguf = GgufWriter.RandomLlama(LlamaKQ4K.Layers, LlamaKQ4K.Heads, LlamaKQ4K.KvHeads, LlamaKQ4K.ModelDim,
            LlamaKQ4K.FeedForwardDim, LlamaKQ4K.VocabSize, LlamaKQ4K.MaxSequenceLength, tied: false, seed: 3);
        try
        {
            SameOnAnyThreadCount(o => LlamaKQ4K.Load(gguf, o), [1, 5, 99, 250, 17, 3, 8, 141, 9], [4, 77, 200, 31, 5, 6]);
        }
        finally
        {
            File.Delete(gguf);
        }
    }

    [Fact]
    public void Fallback_blocks_of_32_give_the_same_bits_on_one_thread_and_three()
    {
        Fixture f = Fixture.Read("llama-basic");
        SameOnAnyThreadCount(o => LlamaBasicQ4K.Load(Fixture.Path("llama-basic.safetensors"), o), f.Prompt, f.Inputs.Skip(f.Prompt.Length).ToArray());
    }
}
