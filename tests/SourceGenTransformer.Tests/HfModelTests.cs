using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Xunit;
using Tensor = SourceGenTransformer.Tests.SweepWeights.Tensor;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Models declared by a Hugging Face config.json (HfFixtureModels.cs) beyond the PyTorch parity of ParityTests: what the
/// files decide lands on the class, the lighter precisions, and files that do not fit the declaration.
/// </summary>
public sealed class HfModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-hf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_files_decide_the_constants()
    {
        // config.json: Qwen2, 3 layers, 5 heads of 8 over hidden_size 40, one KV head; generation_config.json: BOS 1 and
        // the EOS list [2, 3].
        Assert.Equal((3, 5, 1, 8, 40), (HfQwen2Mqa.Layers, HfQwen2Mqa.Heads, HfQwen2Mqa.KvHeads, HfQwen2Mqa.HeadDim, HfQwen2Mqa.ModelDim));
        Assert.Equal(1, HfQwen2Mqa.BosToken);
        Assert.Equal([2, 3], HfQwen2Mqa.EosTokens.ToArray());
        Assert.Equal(2, HfQwen2Mqa.EosToken);
        // config.json alone: an EOS list in the file ([0, 88, 89]), then generation_config.json's [88, 89] wins.
        Assert.Equal([88, 89], HfLlama3Scaled.EosTokens.ToArray());
        Assert.Equal(5, HfLlama3Scaled.BosToken);
        // max_position_embeddings 4096 for phi3-window: the default cap leaves it; MaxSequenceLength = 40 caps it.
        Assert.Equal(4096, HfPhi3Window.MaxSequenceLength);
        Assert.Equal(40, HfPhi3WindowShort.MaxSequenceLength);
        Assert.Equal(6, HfPhi3Window.SlidingWindow);
        // max_position_embeddings 32768 for qwen2-tied: capped at 4096 by default.
        Assert.Equal(4096, HfQwen2Tied.MaxSequenceLength);
        // Qwen3's head_dim: 4 heads x 32 = 128 query columns over hidden_size 64.
        Assert.Equal((32, 128, 64), (HfQwen3Tied.HeadDim, HfQwen3Tied.QueryDim, HfQwen3Tied.ModelDim));
        Assert.Equal(HfGemmaMqa.EmbeddingScale, (float)Math.Sqrt(64));
    }

    [Fact]
    public void Bfloat16_beside_config_file_matches_pytorch()
    {
        Fixture f = Fixture.Read("hf-qwen2-tied");
        using HfQwen2TiedBf16 model = HfQwen2TiedBf16.Load(f.WeightsPath);
        HfQwen2TiedBf16.Session session = model.CreateSession();
        for (int pos = 0; pos < f.Inputs.Length; pos++)
        {
            float diff = Fixture.ScaledMaxDiff(session.Forward(f.Inputs[pos]), f.Logits[pos]);
            Assert.True(diff <= 1e-4f, $"position {pos}: scaled max difference {diff:E3}");
        }
        Assert.Equal(f.Greedy, model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = f.Greedy.Length }).ToArray());
    }

    [Fact]
    public void Generation_stops_at_any_eos_of_the_list()
    {
        // qwen2-mqa stops at 2 or 3 (generation_config.json); EosToken is only the first, 2. Among one-token prompts, find
        // those whose greedy next token is one of them: Generate, given no stop tokens, yields nothing there, so it stops
        // at 3 too, which EosToken alone would not.
        Fixture f = Fixture.Read("hf-qwen2-mqa");
        using HfQwen2Mqa model = HfQwen2Mqa.Load(f.WeightsPath);
        var firstByEos = new Dictionary<int, int>();
        for (int t = 0; t < HfQwen2Mqa.VocabSize; t++)
        {
            int next = Sampling.Argmax(model.CreateSession().Forward(t));
            if (next is 2 or 3) firstByEos.TryAdd(next, t);
        }
        Assert.True(firstByEos.ContainsKey(3), $"no one-token prompt continues with the second EOS id 3 (found {string.Join(", ", firstByEos.Keys)})");
        foreach ((int eos, int prompt) in firstByEos)
        {
            Assert.Empty(model.Generate([prompt], new GenerationOptions { MaxNewTokens = 5 }));
            Assert.Equal(eos, Sampling.Argmax(model.CreateSession().Forward(prompt)));
        }
        var sampler = new TokenSampler(HfQwen2Mqa.VocabSize, GenerationOptions.Default, HfQwen2Mqa.EosTokens);
        Assert.True(sampler.IsStop(2) && sampler.IsStop(3) && !sampler.IsStop(4));
    }

    [Fact]
    public void A_fused_tensor_with_other_rows_is_refused_by_name_and_shape()
    {
        // Phi-3's qkv_proj holds q, k and v rows (48 + 48 + 48 = 144): one with a row more is another model.
        List<Tensor> tensors = LoadingTests.ReadAll(Fixture.Path("hf/phi3-window/model.safetensors"));
        int i = tensors.FindIndex(t => t.Name == "model.layers.1.self_attn.qkv_proj.weight");
        Tensor qkv = tensors[i];
        tensors[i] = new Tensor(qkv.Name, [qkv.Shape[0] + 1, qkv.Shape[1]], [.. qkv.Values, .. new float[qkv.Shape[1]]]);
        string path = Path.Combine(_dir, "model.safetensors");
        SweepWeights.WriteSafetensors(path, tensors);
        var e = Assert.Throws<ModelLoadException>(() => HfPhi3Window.Load(path));
        Assert.Contains("model.layers.1.self_attn.qkv_proj.weight", e.Message);
        Assert.Contains("expected shape [144, cols]", e.Message);
        Assert.Contains("[145, 48]", e.Message);
    }

    [Fact]
    public void A_qwen2_file_without_its_biases_is_refused()
    {
        // A Llama file of the same shapes lacks q_proj.bias: loading it as Qwen2 would silently drop the biases.
        List<Tensor> tensors = LoadingTests.ReadAll(Fixture.Path("hf/qwen2-mqa/model.safetensors")).Where(t => !t.Name.EndsWith(".bias", StringComparison.Ordinal)).ToList();
        string path = Path.Combine(_dir, "model.safetensors");
        SweepWeights.WriteSafetensors(path, tensors);
        var e = Assert.Throws<ModelLoadException>(() => HfQwen2Mqa.Load(path));
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", e.Message);
    }

    [Fact]
    public void A_forked_session_goes_on_from_the_shared_prefix_as_a_fresh_one_would()
    {
        // Mistral with a window of 8 after a 20-token prompt: the fork carries every cached row the window reads.
        Fixture f = Fixture.Read("hf-mistral-window");
        using HfMistralWindow model = HfMistralWindow.Load(f.WeightsPath);
        HfMistralWindow.Session a = model.CreateSession();
        float[] afterPrompt = a.Forward(f.Prompt).ToArray();
        HfMistralWindow.Session b = a.Fork();
        Assert.Equal(f.Prompt.Length, b.Position);
        float[] left = a.Forward(3).ToArray(), right = b.Forward(7).ToArray();

        // Each equals a fresh session given the same tokens, bit for bit (the same cached rows, the same kernels).
        HfMistralWindow.Session fresh = model.CreateSession();
        Assert.Equal(afterPrompt, fresh.Forward(f.Prompt).ToArray());
        Assert.Equal(right, fresh.Fork().Forward(7).ToArray());
        Assert.Equal(left, fresh.Forward(3).ToArray());

        // A fork of a fork, and a fork at position 0.
        HfMistralWindow.Session c = b.Fork();
        Assert.Equal(b.Forward(9).ToArray(), c.Forward(9).ToArray());
        HfMistralWindow.Session empty = model.CreateSession().Fork();
        Assert.Equal(0, empty.Position);
        Assert.Equal(afterPrompt, empty.Forward(f.Prompt).ToArray());
    }
}
