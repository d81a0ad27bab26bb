using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// GGUF files (tests/fixtures/make_gguf_fixtures.py, written from the GGUF specification and ggml's block formats):
/// ggml's blocks dequantise to the script's values bit for bit; a GGUF file loads into the declared Llama with the
/// same logits as the safetensors file of the same weights, bit for bit (F32, F16, BF16); llama.cpp's interleaved
/// query/key rows and a tied classifier are handled; metadata that disagrees with the declaration is refused by key.
/// </summary>
public sealed class GgufTests
{
    public static TheoryData<int> BlockCases()
    {
        var data = new TheoryData<int>();
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.Path("gguf-blocks.json")));
        for (int i = 0; i < doc.RootElement.GetArrayLength(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(BlockCases))]
    public void Blocks_dequantise_as_ggml_does(int index)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.Path("gguf-blocks.json")));
        JsonElement c = doc.RootElement[index];
        GgmlType type = Enum.Parse<GgmlType>(c.GetProperty("type").GetString()!);
        byte[] bytes = Convert.FromHexString(c.GetProperty("bytes").GetString()!);
        (int block, int size) = GgufFile.BlockOf(type);
        Assert.Equal(size, bytes.Length);
        var values = new float[block];
        GgmlQuants.Dequantize(type, bytes, values);
        uint[] expected = c.GetProperty("bits").EnumerateArray().Select(b => b.GetUInt32()).ToArray();
        Assert.Equal(expected, values.Select(BitConverter.SingleToUInt32Bits).ToArray());
    }

    internal static float[][] Logits(IDecoderModel model, int[] inputs)
    {
        IDecoderSession session = model.CreateDecoderSession();
        return inputs.Select(t => session.Forward(t).ToArray()).ToArray();
    }

    [Fact]
    public void A_float32_gguf_gives_the_safetensors_logits_bit_for_bit()
    {
        Fixture f = Fixture.Read("llama-basic");
        using var fromGguf = LlamaBasic.Load(Fixture.Path("llama-basic.gguf"));
        using var fromSafetensors = LlamaBasic.Load(Fixture.Path("llama-basic.safetensors"));
        Assert.Equal(Logits(fromSafetensors, f.Inputs), Logits(fromGguf, f.Inputs));
        Assert.True(Fixture.ScaledMaxDiff(Logits(fromGguf, f.Inputs)[^1], f.Logits[^1]) < 1e-4f); // and PyTorch's
    }

    [Fact]
    public void A_float16_gguf_gives_the_float16_safetensors_logits_bit_for_bit()
    {
        Fixture f = Fixture.Read("llama-basic");
        using var fromGguf = LlamaBasic.Load(Fixture.Path("llama-basic-f16.gguf"));
        using var fromSafetensors = LlamaBasic.Load(Fixture.Path("llama-basic-f16.safetensors"));
        Assert.Equal(Logits(fromSafetensors, f.Inputs), Logits(fromGguf, f.Inputs));
    }

    [Fact]
    public void A_bfloat16_v2_gguf_with_grouped_query_attention_and_a_tied_classifier_loads_as_its_safetensors()
    {
        Fixture f = Fixture.Read("llama-gqa-tied");
        using var fromGguf = LlamaGqaTied.Load(Fixture.Path("llama-gqa-tied.gguf"));
        using var fromSafetensors = LlamaGqaTied.Load(Fixture.Path("llama-gqa-tied.safetensors"));
        Assert.Equal(Logits(fromSafetensors, f.Inputs), Logits(fromGguf, f.Inputs));
        using var file = GgufFile.Open(Fixture.Path("llama-gqa-tied.gguf"));
        Assert.Equal(2u, file.Version);
        Assert.Equal("llama", file.Architecture);
        Assert.Equal(80, ((object[])file.Metadata["tokenizer.ggml.tokens"]).Length);
    }

    [Fact]
    public void A_qwen2_gguf_with_biases_loads_as_its_safetensors_with_rows_unpermuted()
    {
        Fixture f = Fixture.Read("hf-qwen2-tied");
        using var fromGguf = HfQwen2Tied.Load(Fixture.Path("qwen2-tied.gguf"));
        using var fromSafetensors = HfQwen2Tied.Load(Fixture.Path("hf/qwen2-tied/model.safetensors"));
        Assert.Equal(Logits(fromSafetensors, f.Inputs), Logits(fromGguf, f.Inputs));
        using var file = GgufFile.Open(Fixture.Path("qwen2-tied.gguf"));
        Assert.Equal("qwen2", file.Architecture);
        Assert.Equal(GgmlType.F32, file.TensorTypes["blk.1.attn_v.bias"]); // 1-D tensors in F32, as llama.cpp writes them
        Assert.Equal(GgmlType.BF16, file.TensorTypes["blk.1.attn_v.weight"]);
    }

    [Fact]
    public void A_q8_0_gguf_stays_within_the_formats_error_of_the_float_model()
    {
        Fixture f = Fixture.Read("llama-basic");
        using var q8 = LlamaBasic.Load(Fixture.Path("llama-basic-q8_0.gguf"));
        using var file = GgufFile.Open(Fixture.Path("llama-basic-q8_0.gguf"));
        Assert.Equal(GgmlType.Q8_0, file.TensorTypes["blk.0.attn_q.weight"]);
        float[][] logits = Logits(q8, f.Inputs);
        for (int i = 0; i < f.Inputs.Length; i++)
            Assert.True(Fixture.ScaledMaxDiff(logits[i], f.Logits[i]) < 5e-2f, $"position {i}: {Fixture.ScaledMaxDiff(logits[i], f.Logits[i])}");
        Assert.Equal(f.Greedy.Take(8), q8.Generate(f.Prompt, new GenerationOptions { MaxNewTokens = 8 }));
    }

    [Fact]
    public void Metadata_that_disagrees_with_the_declaration_is_refused_by_key_and_values()
    {
        var e = Assert.Throws<ModelLoadException>(() => LlamaGqaTied.Load(Fixture.Path("llama-basic.gguf")));
        Assert.Contains("llama.embedding_length = 64 where the declaration has ModelDim = 48", e.Message);
        Assert.Contains("llama.attention.head_count_kv = 4 where the declaration has KvHeads = 2", e.Message);
        Assert.Contains("llama.attention.layer_norm_rms_epsilon", e.Message);
    }

    [Fact]
    public void A_malformed_gguf_is_a_model_load_exception_naming_what_is_wrong()
    {
        byte[] good = File.ReadAllBytes(Fixture.Path("llama-basic.gguf"));
        string path = Path.Combine(Path.GetTempPath(), $"stg-gguf-{Environment.ProcessId}-{Guid.NewGuid():N}.gguf");
        try
        {
            void Refused(byte[] bytes, string expected)
            {
                File.WriteAllBytes(path, bytes);
                var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(path));
                Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), e.Message);
            }
            byte[] v1 = (byte[])good.Clone();
            BitConverter.GetBytes(1u).CopyTo(v1, 4);
            Refused(v1, "GGUF version 1 is not supported");
            Refused(good[..(good.Length - 100)], "run past the end of the file");
            Refused(good[..40], "14 metadata keys and 21 tensors, more than the file's 40 bytes hold");
            Refused(good[..1500], "1500 bytes)"); // inside the metadata or the tensor descriptions
            byte[] many = (byte[])good.Clone();
            BitConverter.GetBytes(ulong.MaxValue).CopyTo(many, 8);
            Refused(many, "tensors (at most");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
