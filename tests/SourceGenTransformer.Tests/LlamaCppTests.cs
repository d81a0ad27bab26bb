using System;
using System.Linq;
using System.Numerics.Tensors;
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
    // Loads the native library: llama_model_quantize's parameters are its first call in a run of Quantize alone.
    static LlamaCppTests() => GgmlNative.EnsureLlamaLoaded();

    /// <summary>llama.cpp's logits at every position of <paramref name="inputs"/>, fed as one batch.</summary>
    private static float[][] LlamaCpp(string gguf, int context, int[] inputs)
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
        return Enumerable.Range(0, inputs.Length).Select(i => ctx.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
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
        IDecoderModel model = f.Load(path: Fixture.Path(file));
        using (model as IDisposable)
        {
            float[][] ours = GgufTests.Logits(model, f.Inputs);
            float[][] theirs = LlamaCpp(Fixture.Path(file), model.MaxSequenceLength, f.Inputs);
            for (int i = 0; i < ours.Length; i++)
            {
                float diff = Fixture.ScaledMaxDiff(ours[i], theirs[i]);
                Assert.True(diff < bound, $"{file}, position {i}: scaled max difference {diff} from llama.cpp (bound {bound})");
            }
            if (!greedy) return;

            // The inputs are the prompt and its greedy continuation, so llama.cpp's argmax after each of them is the
            // token it would generate next on that path: its greedy ids equal ours exactly when these equal ours.
            int[] ourGreedy = model.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = f.Greedy.Length }).ToArray();
            Assert.Equal(f.Prompt.Concat(ourGreedy.SkipLast(1)), f.Inputs);
            int[] theirGreedy = theirs.Skip(f.Prompt.Length - 1).Select(l => TensorPrimitives.IndexOfMax<float>(l)).ToArray();
            Assert.Equal(ourGreedy, theirGreedy);
        }
    }

    /// <summary>
    /// llama.cpp's <c>llama-quantize</c> (through LLamaSharp's native API): <paramref name="file"/> with every matrix in
    /// <paramref name="type"/> (<c>--pure</c>: no Q6_K classifier), into a temporary file the caller deletes.
    /// </summary>
    internal static string Quantize(string file, LLamaFtype type, GGMLType? embedding = null)
    {
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sgt-{Guid.NewGuid():N}-{type}.gguf");
        LLamaModelQuantizeParams p = LLamaModelQuantizeParams.Default();
        p.ftype = type;
        p.pure = true;
        p.nthread = 1;
        p.quantize_output_tensor = true;
        if (embedding is { } e) p.token_embedding_type = e;
        Assert.Equal(0u, NativeApi.llama_model_quantize(file, path, ref p));
        return path;
    }

    /// <summary>Every matrix of llama-basic by its Hugging Face name, with its rows and columns (the token embedding too).</summary>
    private static System.Collections.Generic.List<(string Name, int Rows, int Cols)> BasicMatrices()
    {
        var matrices = new System.Collections.Generic.List<(string Name, int Rows, int Cols)> { ("model.embed_tokens.weight", 96, 64), ("lm_head.weight", 96, 64) };
        for (int l = 0; l < 2; l++)
        {
            foreach (string m in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj" })
                matrices.Add(($"model.layers.{l}.{m}.weight", 64, 64));
            matrices.Add(($"model.layers.{l}.mlp.gate_proj.weight", 160, 64));
            matrices.Add(($"model.layers.{l}.mlp.up_proj.weight", 160, 64));
            matrices.Add(($"model.layers.{l}.mlp.down_proj.weight", 64, 160));
        }
        return matrices;
    }

    [Fact]
    public void Weights_quantised_to_Int8_at_load_are_llama_quantizes_Q8_0_blocks_bit_for_bit() =>
        QuantisedAtLoadAsLlamaQuantizes(LLamaFtype.MOSTLY_Q8_0, GgmlType.Q8_0, "codes", (file, name, rows, cols) =>
        {
            var codes = new sbyte[rows * cols];
            var scales = new Half[rows * cols / 32];
            file.ReadInt8Into(name, rows, cols, codes, scales);
            return ((byte[])(Array)codes, scales);
        }, path => LlamaBasicInt8.Load(path));

    [Fact]
    public void Weights_quantised_to_Q4_0_at_load_are_llama_quantizes_blocks_bit_for_bit() =>
        QuantisedAtLoadAsLlamaQuantizes(LLamaFtype.MOSTLY_Q4_0, GgmlType.Q4_0, "nibbles", (file, name, rows, cols) =>
        {
            var nibbles = new byte[rows * cols / 2];
            var scales = new Half[rows * cols / 32];
            file.ReadQ4_0Into(name, rows, cols, nibbles, scales);
            return (nibbles, scales);
        }, path => LlamaBasicQ4.Load(path));

    /// <summary>
    /// Every matrix of llama-basic, the token embedding included (llama-quantize's <c>--pure</c> file holds it in the type
    /// too), as our loader quantises it from the F32 file and as it reads llama-quantize's file of it: the same values
    /// and float16 scales bit for bit (q and k rows un-permuted alike), so the same logits.
    /// </summary>
    private static void QuantisedAtLoadAsLlamaQuantizes(LLamaFtype type, GgmlType ggml, string what,
        Func<GgufFile, string, int, int, (byte[] Values, Half[] Scales)> read, Func<string, IDecoderModel> load)
    {
        Fixture f = Fixture.Read("llama-basic");
        string theirs = Quantize(Fixture.Path("llama-basic.gguf"), type);
        try
        {
            using (var f32 = GgufFile.Open(Fixture.Path("llama-basic.gguf")))
            using (var quantised = GgufFile.Open(theirs))
            {
                Assert.Equal(ggml, quantised.TensorTypes["blk.0.attn_q.weight"]);
                Assert.Equal(ggml, quantised.TensorTypes["token_embd.weight"]);
                foreach ((string name, int rows, int cols) in BasicMatrices())
                {
                    (byte[] ours, Half[] ourScales) = read(f32, name, rows, cols);
                    (byte[] llamas, Half[] llamaScales) = read(quantised, name, rows, cols);
                    Assert.True(ours.AsSpan().SequenceEqual(llamas), $"{name}: the {what} differ from llama-quantize's");
                    Assert.True(ourScales.AsSpan().SequenceEqual(llamaScales), $"{name}: the scales differ from llama-quantize's");
                }
            }
            IDecoderModel quantisedHere = load(Fixture.Path("llama-basic.gguf")), quantisedByLlamaCpp = load(theirs);
            try
            {
                Assert.Equal(GgufTests.Logits(quantisedByLlamaCpp, f.Inputs), GgufTests.Logits(quantisedHere, f.Inputs));
            }
            finally
            {
                (quantisedHere as IDisposable)?.Dispose();
                (quantisedByLlamaCpp as IDisposable)?.Dispose();
            }
        }
        finally
        {
            System.IO.File.Delete(theirs);
        }
    }

    [Fact]
    public void On_a_Q4_0_file_greedy_ids_equal_llama_cpps_and_logits_agree()
    {
        Fixture f = Fixture.Read("llama-basic");
        string q4 = Quantize(Fixture.Path("llama-basic.gguf"), LLamaFtype.MOSTLY_Q4_0);
        try
        {
            using var model = LlamaBasicQ4.Load(q4);
            CompareGreedy(model, q4, f.Prompt, f.Greedy.Length, 1e-3f);
        }
        finally
        {
            System.IO.File.Delete(q4);
        }
    }

    [Fact]
    public void On_a_Q8_0_file_every_weight_loads_as_it_is_and_greedy_ids_equal_llama_cpps()
    {
        Fixture f = Fixture.Read("llama-basic");
        string q8 = Quantize(Fixture.Path("llama-basic.gguf"), LLamaFtype.MOSTLY_Q8_0);
        try
        {
            using (var file = GgufFile.Open(q8))
            {
                Assert.Equal(GgmlType.Q8_0, file.TensorTypes["blk.0.attn_q.weight"]);
                // Int8 keeps ggml's blocks of 32: each weight our loader holds (q · scale, in its panels) is the file's
                // own value q · d (ggml's dequantisation, GgufTests), bit for bit.
                foreach ((string name, int rows, int cols) in new[] { ("model.layers.0.self_attn.q_proj.weight", 64, 64), ("model.layers.1.mlp.down_proj.weight", 64, 160), ("model.layers.0.mlp.up_proj.weight", 160, 64) })
                {
                    var values = new float[rows * cols];
                    file.ReadInto(name, [rows, cols], values);
                    var q = new sbyte[rows * cols];
                    var scales = new Half[rows * cols / 32];
                    file.ReadInt8Into(name, rows, cols, q, scales);
                    for (int r = 0; r < rows; r++)
                    {
                        for (int c = 0; c < cols; c++)
                        {
                            (int at, int scale) = PrecisionKernelTests.Int8Index(r, c, rows, cols);
                            Assert.True(q[at] * (float)scales[scale] == values[r * cols + c], $"{name}[{r}, {c}]: {q[at]} x {scales[scale]} is not the file's {values[r * cols + c]}");
                        }
                    }
                }
            }
            using var model = LlamaBasicInt8.Load(q8);
            CompareGreedy(model, q8, f.Prompt, f.Greedy.Length, 1e-3f);
        }
        finally
        {
            System.IO.File.Delete(q8);
        }
    }

    /// <summary>
    /// Our greedy continuation of <paramref name="prompt"/>, then llama.cpp's logits over the prompt and that continuation
    /// in one batch: each of its argmaxes after the prompt must be our next token, and every position's logits within
    /// <paramref name="bound"/> (scaled) of ours.
    /// </summary>
    internal static float CompareGreedy(IDecoderModel model, string gguf, int[] prompt, int tokens, float bound)
    {
        int[] ourGreedy = model.Generate(prompt, new GenerationOptions { MaxNewTokens = tokens }).ToArray();
        int[] inputs = prompt.Concat(ourGreedy.SkipLast(1)).ToArray();
        float[][] ours = GgufTests.Logits(model, inputs);
        float[][] theirs = LlamaCpp(gguf, model.MaxSequenceLength, inputs);
        float worst = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            float diff = Fixture.ScaledMaxDiff(ours[i], theirs[i]);
            worst = Math.Max(worst, diff);
            Assert.True(diff < bound, $"{gguf}, position {i}: scaled max difference {diff} from llama.cpp (bound {bound})");
        }
        int[] theirGreedy = theirs.Skip(prompt.Length - 1).Select(l => TensorPrimitives.IndexOfMax<float>(l)).ToArray();
        Assert.Equal(ourGreedy, theirGreedy);
        Console.WriteLine($"{System.IO.Path.GetFileName(gguf)}: {ourGreedy.Length} greedy ids equal, worst scaled logit difference {worst:G3}");
        return worst;
    }
}
