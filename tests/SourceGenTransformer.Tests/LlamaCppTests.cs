using System;
using System.Linq;
using System.Numerics.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;
using SourceGenTransformer.Runtime;
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
    /// <paramref name="type"/> (<c>--pure</c>: no Q6_K classifier), or with <paramref name="pure"/> false by the type's own
    /// rules (Q4_K_M's mix), into a temporary file the caller deletes.
    /// </summary>
    internal static string Quantize(string file, LLamaFtype type, GGMLType? embedding = null, bool pure = true)
    {
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sgt-{Guid.NewGuid():N}-{type}.gguf");
        LLamaModelQuantizeParams p = LLamaModelQuantizeParams.Default();
        p.ftype = type;
        p.pure = pure;
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
            BlockMatrix m = file.ReadBlockMatrix(name, rows, cols, GgmlType.Q4_0, keepFileTypes: false);
            return (m.Data, []);
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
            SameLogits(load, Fixture.Path("llama-basic.gguf"), theirs, f.Inputs);
        }
        finally
        {
            System.IO.File.Delete(theirs);
        }
    }

    /// <summary>The model loaded from a float file (quantised at our load) and from llama-quantize's file of it: the same logits, bit for bit.</summary>
    private static void SameLogits(Func<string, IDecoderModel> load, string quantisedHere, string quantisedByLlamaCpp, int[] inputs)
    {
        IDecoderModel ours = load(quantisedHere), theirs = load(quantisedByLlamaCpp);
        try
        {
            Assert.Equal(GgufTests.Logits(theirs, inputs), GgufTests.Logits(ours, inputs));
        }
        finally
        {
            (ours as IDisposable)?.Dispose();
            (theirs as IDisposable)?.Dispose();
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

    /// <summary>
    /// Q4K quantises at load as llama-quantize's Q4_K_M does: every matrix of the F32 file (the token embedding too) gets
    /// the type llama.cpp's file gives it and the same bytes, so the same logits; and llama.cpp's own file loads with
    /// each matrix kept in its type.
    /// </summary>
    internal static void Q4KAsLlamaQuantizes(string f32, Func<string, IDecoderModel> load, int[] inputs, int layers, bool tied, params (string Name, int Rows, int Cols)[] matrices)
    {
        string theirs = Quantize(f32, LLamaFtype.MOSTLY_Q4_K_M, pure: false);
        try
        {
            using (var source = GgufFile.Open(f32))
            using (var quantised = GgufFile.Open(theirs))
            {
                var names = quantised.TensorTypes;
                foreach ((string name, int rows, int cols) in matrices)
                {
                    BlockMatrix llamas = quantised.ReadBlockMatrix(name, rows, cols, GgmlType.F32 /* unused: every matrix is stored in a kernel type */);
                    MatrixRole role = name.Contains("v_proj", StringComparison.Ordinal) ? MatrixRole.Value
                        : name.Contains("down_proj", StringComparison.Ordinal) ? MatrixRole.Down
                        : name == "lm_head.weight" || (tied && name == "model.embed_tokens.weight") ? MatrixRole.Classifier : MatrixRole.Projection;
                    int layer = name.StartsWith("model.layers.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture) : 0;
                    GgmlType recipe = BlockMatrix.Q4KMType(role, layer, layers, cols);
                    Assert.True(recipe == llamas.Type, $"{name}: Q4_K_M's rules give {recipe} here, llama-quantize wrote {llamas.Type}");
                    BlockMatrix ours = source.ReadBlockMatrix(name, rows, cols, recipe);
                    Assert.True(ours.Data.AsSpan().SequenceEqual(llamas.Data), $"{name} ({recipe}): our blocks differ from llama-quantize's");
                }
            }
            SameLogits(load, f32, theirs, inputs);
        }
        finally
        {
            System.IO.File.Delete(theirs);
        }
    }

    [Fact]
    public void Q4K_on_rows_of_64_and_160_falls_back_to_Q5_0_and_Q8_0_as_llama_quantize_does()
    {
        Fixture f = Fixture.Read("llama-basic");
        Q4KAsLlamaQuantizes(Fixture.Path("llama-basic.gguf"), path => LlamaBasicQ4K.Load(path), f.Inputs, 2, false, BasicMatrices().ToArray());
    }

    [Fact]
    public void On_a_Q4_K_M_file_of_fallback_blocks_greedy_ids_equal_llama_cpps_and_logits_agree()
    {
        Fixture f = Fixture.Read("llama-basic");
        string file = Quantize(Fixture.Path("llama-basic.gguf"), LLamaFtype.MOSTLY_Q4_K_M, pure: false);
        try
        {
            using (var g = GgufFile.Open(file))
            {
                Assert.Equal(GgmlType.Q5_0, g.TensorTypes["blk.0.attn_q.weight"]);
                Assert.Equal(GgmlType.Q5_0, g.TensorTypes["blk.0.attn_v.weight"]); // use_more_bits picks layer 1 of 2, not 0
                Assert.Equal(GgmlType.Q8_0, g.TensorTypes["blk.1.attn_v.weight"]);
                Assert.Equal(GgmlType.Q8_0, g.TensorTypes["output.weight"]);
            }
            using var model = LlamaBasicQ4K.Load(file);
            CompareGreedy(model, file, f.Prompt, f.Greedy.Length, 1e-3f);
        }
        finally
        {
            System.IO.File.Delete(file);
        }
    }

    /// <summary>
    /// One 8-bit activation code off by one (an activation within float32 rounding of a half step, rounded one way by us
    /// and the other by llama.cpp) moves its product by a step, about 1e-2 of a logit after the layers above it, and the
    /// KV cache carries it to every later position (as <c>ParityTests.QuantisedTolerance</c> says of PyTorch).
    /// Measured on the random K model: 2e-7 before the first such code, at most 1.9e-2 after.
    /// </summary>
    private const float QuantisedTolerance = 3e-2f;

    /// <summary>
    /// Our greedy continuation of <paramref name="prompt"/>, then llama.cpp's logits over the prompt and it in one batch:
    /// the first position within 1e-5 (scaled: the products are llama.cpp's arithmetic, lane for lane), every position
    /// within <see cref="QuantisedTolerance"/>, and our argmax equal to llama.cpp's wherever its top two logits are
    /// further apart than twice that (most positions).
    /// </summary>
    internal static void CompareAlongGreedyPath(IDecoderModel model, string gguf, int[] prompt, int tokens)
    {
        int[] ourGreedy = model.Generate(prompt, new GenerationOptions { MaxNewTokens = tokens }).ToArray();
        int[] inputs = prompt.Concat(ourGreedy.SkipLast(1)).ToArray();
        float[][] ours = GgufTests.Logits(model, inputs);
        float[][] theirs = LlamaCpp(gguf, model.MaxSequenceLength, inputs);
        Assert.True(Fixture.ScaledMaxDiff(ours[0], theirs[0]) < 1e-5f, $"{gguf}, position 0: scaled max difference {Fixture.ScaledMaxDiff(ours[0], theirs[0])} from llama.cpp");
        int clear = 0;
        float worst = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            float diff = Fixture.ScaledMaxDiff(ours[i], theirs[i]);
            worst = Math.Max(worst, diff);
            Assert.True(diff < QuantisedTolerance, $"{gguf}, position {i}: scaled max difference {diff} from llama.cpp (bound {QuantisedTolerance})");
            float[] sorted = theirs[i].OrderByDescending(v => v).Take(2).ToArray();
            if ((sorted[0] - sorted[1]) / MathF.Max(1f, theirs[i].Max(MathF.Abs)) <= 2 * QuantisedTolerance) continue;
            clear++;
            Assert.Equal(TensorPrimitives.IndexOfMax<float>(theirs[i]), TensorPrimitives.IndexOfMax<float>(ours[i]));
        }
        Assert.True(clear * 2 > ours.Length, $"{gguf}: only {clear} of {ours.Length} positions have a clear argmax");
        Console.WriteLine($"{System.IO.Path.GetFileName(gguf)}: {clear} of {ours.Length} argmaxes clear and equal, worst scaled logit difference {worst:G3}");
    }

    /// <summary>Every matrix of the random K-quant model (LlamaKQ4K's shape) by its Hugging Face name, with its rows and columns.</summary>
    private static (string Name, int Rows, int Cols)[] KMatrices(bool tied)
    {
        int dim = LlamaKQ4K.ModelDim, kv = LlamaKQ4K.KvDim, ffn = LlamaKQ4K.FeedForwardDim, vocab = LlamaKQ4K.VocabSize;
        var matrices = new System.Collections.Generic.List<(string Name, int Rows, int Cols)> { ("model.embed_tokens.weight", vocab, dim) };
        if (!tied) matrices.Add(("lm_head.weight", vocab, dim));
        for (int l = 0; l < LlamaKQ4K.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            matrices.AddRange([(p + "self_attn.q_proj.weight", dim, dim), (p + "self_attn.k_proj.weight", kv, dim), (p + "self_attn.v_proj.weight", kv, dim),
                (p + "self_attn.o_proj.weight", dim, dim), (p + "mlp.gate_proj.weight", ffn, dim), (p + "mlp.up_proj.weight", ffn, dim), (p + "mlp.down_proj.weight", dim, ffn)]);
        }
        return matrices.ToArray();
    }

    private static string RandomK(bool tied) => GgufWriter.RandomLlama(LlamaKQ4K.Layers, LlamaKQ4K.Heads, LlamaKQ4K.KvHeads, LlamaKQ4K.ModelDim,
        LlamaKQ4K.FeedForwardDim, LlamaKQ4K.VocabSize, LlamaKQ4K.MaxSequenceLength, tied, seed: tied ? 11 : 7);

    private static IDecoderModel LoadK(bool tied, string path) => tied ? LlamaKTiedQ4K.Load(path) : LlamaKQ4K.Load(path);

    private static readonly int[] KPrompt = [1, 17, 250, 3, 99, 42, 7];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Q4K_quantises_at_load_as_llama_quantizes_Q4_K_M_bit_for_bit(bool tied)
    {
        string f32 = RandomK(tied);
        try
        {
            Q4KAsLlamaQuantizes(f32, path => LoadK(tied, path), KPrompt, LlamaKQ4K.Layers, tied, KMatrices(tied));
        }
        finally
        {
            System.IO.File.Delete(f32);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void On_a_Q4_K_M_file_logits_agree_with_llama_cpps_and_so_do_clear_argmaxes(bool tied)
    {
        string f32 = RandomK(tied), file = Quantize(f32, LLamaFtype.MOSTLY_Q4_K_M, pure: false);
        try
        {
            using (var g = GgufFile.Open(file))
            {
                Assert.Equal(GgmlType.Q4_K, g.TensorTypes["blk.1.attn_v.weight"]);
                Assert.Equal(GgmlType.Q6_K, g.TensorTypes["blk.3.attn_v.weight"]);
                Assert.Equal(GgmlType.Q6_K, g.TensorTypes["blk.7.ffn_down.weight"]);
                Assert.Equal(tied ? GgmlType.Q6_K : GgmlType.Q4_K, g.TensorTypes["token_embd.weight"]);
            }
            IDecoderModel model = LoadK(tied, file);
            using (model as IDisposable)
                CompareAlongGreedyPath(model, file, KPrompt, 32);
        }
        finally
        {
            System.IO.File.Delete(f32);
            System.IO.File.Delete(file);
        }
    }
}
