using System;
using System.Collections.Generic;
using System.Linq;
using LLama;
using LLama.Common;
using LLama.Native;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// llama.cpp as the oracle on the same GGUF files (LLamaSharp 0.30.0 and its CPU backend, a test-only dependency):
/// the greedy ids equal ours, and every position's logits agree. llama.cpp runs with a float32 KV cache and flash
/// attention off: its CPU flash attention rounds through float16 (on llama-basic.gguf the logits then differ from
/// PyTorch's by 6e-4; without it by 1e-6). On an F32 file the logits agree within 1e-4 (scaled). With F16 or BF16
/// matrices llama.cpp also rounds the activations to that type before each product (ggml's vec_dot_type), while we
/// widen the weights and multiply in float32 as PyTorch does (GgufTests: the same logits as the safetensors file,
/// which match PyTorch within 1e-4), so there the bound is that rounding's, and greedy ids may part: on qwen2-tied.gguf
/// (BF16) llama.cpp leaves PyTorch's greedy path at the fifth token, while on the same weights in F32
/// (qwen2-tied-f32.gguf) it follows all 24, as we do on both.
/// </summary>
public sealed class LlamaCppTests
{
    static LlamaCppTests() => NativeLibraryConfig.All.WithLogCallback((_, _) => { }); // llama.cpp's load log, silenced

    /// <summary>llama.cpp's logits at every position of <paramref name="inputs"/> (one batch), and its greedy ids after <paramref name="prompt"/>.</summary>
    private static (float[][] Logits, int[] Greedy) LlamaCpp(string gguf, int context, int[] inputs, int[] prompt, int count)
    {
        var p = new ModelParams(gguf)
        {
            ContextSize = (uint)context, GpuLayerCount = 0, Threads = 1, BatchThreads = 1, FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32,
        };
        using LLamaWeights weights = LLamaWeights.LoadFromFile(p);
        using LLamaContext ctx = weights.CreateContext(p);

        var batch = new LLamaBatch();
        for (int i = 0; i < inputs.Length; i++) batch.Add((LLamaToken)inputs[i], i, LLamaSeqId.Zero, true);
        Assert.Equal(DecodeResult.Ok, ctx.NativeHandle.Decode(batch));
        float[][] logits = Enumerable.Range(0, inputs.Length).Select(i => ctx.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();

        ctx.NativeHandle.MemoryClear();
        batch.Clear();
        for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var greedy = new List<int>();
        for (int pos = prompt.Length; greedy.Count < count; pos++)
        {
            Assert.Equal(DecodeResult.Ok, ctx.NativeHandle.Decode(batch));
            ReadOnlySpan<float> last = ctx.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
            int best = 0;
            for (int j = 1; j < last.Length; j++) if (last[j] > last[best]) best = j;
            greedy.Add(best);
            batch.Clear();
            batch.Add((LLamaToken)best, pos, LLamaSeqId.Zero, true);
        }
        return (logits, greedy.ToArray());
    }

    public static TheoryData<string, string> Float32Files => new()
    {
        // file, the fixture whose model and inputs it holds
        { "llama-basic.gguf", "llama-basic" },                // v3
        { "llama-gqa-tied-f32.gguf", "llama-gqa-tied" },      // grouped-query attention, tied classifier
        { "qwen2-tied-f32.gguf", "hf-qwen2-tied" },           // qwen2: q/k/v biases, rows not interleaved, tied
    };

    [Theory]
    [MemberData(nameof(Float32Files))]
    public void On_float32_files_greedy_ids_equal_llama_cpps_and_logits_agree_within_1e_4(string file, string fixture) =>
        Compare(file, fixture, 1e-4f, greedy: true);

    public static TheoryData<string, string, float> HalfFiles => new()
    {
        // file, fixture, the logits' bound (scaled max difference): llama.cpp rounds activations to the matrices' type
        { "llama-basic-f16.gguf", "llama-basic", 2e-3f },     // F16 matrices (measured 5.1e-4)
        { "llama-gqa-tied.gguf", "llama-gqa-tied", 1e-2f },   // BF16 matrices, GGUF v2 (measured 2.8e-3)
        { "qwen2-tied.gguf", "hf-qwen2-tied", 3e-2f },        // BF16 matrices (measured 1.5e-2)
    };

    [Theory]
    [MemberData(nameof(HalfFiles))]
    public void On_float16_and_bfloat16_files_logits_agree_within_llama_cpps_activation_rounding(string file, string fixture, float bound) =>
        Compare(file, fixture, bound, greedy: false);

    private static void Compare(string file, string fixture, float bound, bool greedy)
    {
        Fixture f = Fixture.Read(fixture);
        using IDisposableDecoder model = Open(fixture, Fixture.Path(file));
        IDecoderSession session = model.Model.CreateDecoderSession();
        float[][] ours = f.Inputs.Select(t => session.Forward(t).ToArray()).ToArray();
        int[] ourGreedy = model.Model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = f.Greedy.Length }).ToArray();

        (float[][] theirs, int[] theirGreedy) = LlamaCpp(Fixture.Path(file), model.Model.MaxSequenceLength, f.Inputs, f.Prompt, f.Greedy.Length);
        for (int i = 0; i < ours.Length; i++)
        {
            float diff = Fixture.ScaledMaxDiff(ours[i], theirs[i]);
            Assert.True(diff < bound, $"{file}, position {i}: scaled max difference {diff} from llama.cpp (bound {bound})");
        }
        if (greedy) Assert.Equal(theirGreedy, ourGreedy);
    }

    private interface IDisposableDecoder : IDisposable
    {
        IDecoderModel Model { get; }
    }

    private sealed class Opened<T>(T model) : IDisposableDecoder where T : IDecoderModel, IDisposable
    {
        public IDecoderModel Model => model;
        public void Dispose() => model.Dispose();
    }

    private static IDisposableDecoder Open(string fixture, string path) => fixture switch
    {
        "llama-basic" => new Opened<LlamaBasic>(LlamaBasic.Load(path)),
        "llama-gqa-tied" => new Opened<LlamaGqaTied>(LlamaGqaTied.Load(path)),
        "hf-qwen2-tied" => new Opened<HfQwen2Tied>(HfQwen2Tied.Load(path)),
        _ => throw new ArgumentOutOfRangeException(nameof(fixture), fixture, null),
    };
}
