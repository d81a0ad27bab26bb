using System;
using System.IO;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>llama2.c checkpoints load into a Llama declaration and give the logits of the same weights as safetensors.</summary>
public sealed class Llama2CTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-llama2c-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    public void Checkpoint_gives_the_logits_of_the_same_weights_in_safetensors(int version, bool shared)
    {
        string bin = Fixture.Path($"llama2c-v{version}.bin");
        using (var checkpoint = Llama2CCheckpoint.Open(bin))
        {
            Assert.Equal(version, checkpoint.Header.Version);
            Assert.Equal(shared, checkpoint.Header.SharedClassifier);
            Assert.Equal(48, checkpoint.Header.Dim);
            Assert.Equal(2, checkpoint.Header.KvHeads);
        }

        Llama2CTiny.Session fromBin = Llama2CTiny.Load(bin).CreateSession();
        Llama2CTiny.Session fromSafetensors = Llama2CTiny.Load(Fixture.Path($"llama2c-v{version}.safetensors")).CreateSession();
        int token = 1;
        for (int pos = 0; pos < 20; pos++)
        {
            float[] expected = fromSafetensors.Forward(token).ToArray();
            float[] actual = fromBin.Forward(token).ToArray();
            Assert.Equal(expected, actual); // the same floats through the same engine: bit for bit
            token = Sampling.Argmax(expected);
        }
    }

    [Fact]
    public void A_checkpoint_of_other_shapes_names_the_tensor_and_the_header()
    {
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(Fixture.Path("llama2c-v1.bin")));
        Assert.Null(e.TensorName);
        Assert.Contains("the llama2.c header does not match LlamaBasic: dim = 48 where the declaration has ModelDim = 64", e.Message);
        Assert.Contains("vocab_size = 64 where the declaration has VocabSize = 96", e.Message);
    }

    [Fact]
    public void A_truncated_checkpoint_is_reported_as_such()
    {
        byte[] bytes = File.ReadAllBytes(Fixture.Path("llama2c-v1.bin"));
        string path = Path.Combine(_dir, "cut.bin");
        File.WriteAllBytes(path, bytes[..^64]);
        var e = Assert.Throws<ModelLoadException>(() => Llama2CTiny.Load(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_file_that_is_neither_format_says_why_for_both()
    {
        string path = Path.Combine(_dir, "noise.bin");
        File.WriteAllBytes(path, new byte[100]);
        var e = Assert.Throws<ModelLoadException>(() => Llama2CTiny.Load(path));
        Assert.Contains("this is not a safetensors file (", e.Message);
        Assert.Contains("nor a llama2.c checkpoint (", e.Message);
        Assert.Contains("this model loads safetensors or llama2.c weights", e.Message);
    }

    [Fact]
    public void A_llama2c_checkpoint_holds_no_gpt2_tensors()
    {
        // GPT-2 reads safetensors only: the error says so, and says nothing of llama2.c headers.
        var e = Assert.Throws<ModelLoadException>(() => Gpt2Basic.Load(Fixture.Path("llama2c-v0.bin")));
        Assert.Null(e.TensorName);
        Assert.Contains("not a safetensors file", e.Message);
        Assert.Contains("this model loads safetensors weights", e.Message);
        Assert.DoesNotContain("llama2.c", e.Message);
    }
}
