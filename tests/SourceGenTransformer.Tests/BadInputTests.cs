using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>Malformed files, wrong shapes, wrong families: each a clear exception naming what is wrong.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-bad-input-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A safetensors file with the given header text and data section.</summary>
    private string WriteHeader(string name, string header, int dataBytes)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BitConverter.GetBytes((ulong)h.Length).CopyTo(bytes, 0);
        h.CopyTo(bytes, 8);
        return Write(name, bytes);
    }

    private ModelLoadException Fails(string path)
    {
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.FilePath);
        return e;
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        string path = Path.Combine(_dir, "nope.safetensors");
        var e = Assert.Throws<FileNotFoundException>(() => LlamaBasic.Load(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Empty_and_tiny_files_are_too_short()
    {
        Assert.Contains("empty (0 bytes)", Fails(Write("empty.safetensors", [])).Message);
        Assert.Contains("5 bytes, too short", Fails(Write("five.safetensors", [1, 2, 3, 4, 5])).Message);
    }

    [Fact]
    public void Header_length_over_the_cap_is_rejected()
    {
        var bytes = new byte[64];
        BitConverter.GetBytes(1UL << 40).CopyTo(bytes, 0);
        Assert.Contains("cap", Fails(Write("huge.safetensors", bytes)).Message);
    }

    [Fact]
    public void Header_length_past_the_end_is_truncation()
    {
        var bytes = new byte[40];
        BitConverter.GetBytes(1000UL).CopyTo(bytes, 0);
        var e = Fails(Write("short.safetensors", bytes));
        Assert.Contains("1000 bytes but only 32", e.Message);
    }

    [Fact]
    public void Malformed_json_is_rejected()
    {
        Assert.Contains("not valid JSON", Fails(WriteHeader("json.safetensors", "{\"a\": }", 0)).Message);
        Assert.Contains("must be a JSON object", Fails(WriteHeader("array.safetensors", "[1, 2]", 0)).Message);
    }

    [Fact]
    public void Unsupported_dtype_names_tensor_and_dtype()
    {
        // A dtype of the format that weights cannot be (an int64 position-id buffer) is laid out, and refused when read.
        string path = WriteHeader("i64.safetensors", "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
        using (var file = SafetensorsFile.Open(path))
        {
            var read = Assert.Throws<ModelLoadException>(() => file.ReadInto("ids", [2], new float[2]));
            Assert.Equal("ids", read.TensorName);
            Assert.Contains("dtype I64 cannot be read as weights", read.Message);
        }
        var e = Fails(WriteHeader("q4.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16));
        Assert.Equal("w", e.TensorName);
        Assert.Contains("dtype 'Q4' is not a safetensors dtype", e.Message);
    }

    [Fact]
    public void Byte_count_must_equal_dtype_times_shape()
    {
        var e = Fails(WriteHeader("count.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20));
        Assert.Contains("hold 20 bytes but dtype F32 with shape [2, 3] needs 24", e.Message);
    }

    [Fact]
    public void Negative_shape_is_rejected()
    {
        var e = Fails(WriteHeader("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8));
        Assert.Contains("not a non-negative integer", e.Message);
    }

    [Fact]
    public void Offsets_past_the_data_are_truncation()
    {
        var e = Fails(WriteHeader("past.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12));
        Assert.Equal("w", e.TensorName);
        Assert.Contains("past the end of the data section (12 bytes)", e.Message);
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var e = Fails(WriteHeader("overlap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16));
        Assert.Contains("overlaps", e.Message);
    }

    [Fact]
    public void Holes_between_tensors_are_rejected()
    {
        var e = Fails(WriteHeader("hole.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20));
        Assert.Equal("b", e.TensorName);
        Assert.Contains("no holes", e.Message);
    }

    [Fact]
    public void Truncated_weight_file_names_the_cut_tensor()
    {
        byte[] bytes = File.ReadAllBytes(Fixture.Path("llama-basic.safetensors"));
        string path = Write("cut.safetensors", bytes[..^100]);
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(path));
        Assert.NotNull(e.TensorName);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Missing_tensor_names_file_and_tensor()
    {
        // Rewrite the fixture without one tensor.
        using var source = SafetensorsFile.Open(Fixture.Path("llama-basic.safetensors"));
        byte[] file = File.ReadAllBytes(Fixture.Path("llama-basic.safetensors"));
        const string dropped = "model.layers.1.mlp.up_proj.weight";
        var keep = source.Tensors.Values.Where(t => t.Name != dropped).OrderBy(t => t.Offset).ToList();
        var header = new StringBuilder("{");
        var data = new List<byte>();
        foreach (TensorInfo t in keep)
        {
            if (header.Length > 1) header.Append(',');
            header.Append($"\"{t.Name}\":{{\"dtype\":\"{t.DType}\",\"shape\":[{string.Join(",", t.Shape)}],\"data_offsets\":[{data.Count},{data.Count + t.ByteLength}]}}");
            data.AddRange(file.AsSpan((int)(source.DataStart + t.Offset), (int)t.ByteLength).ToArray());
        }
        header.Append('}');
        byte[] h = Encoding.UTF8.GetBytes(header.ToString());
        string path = Write("missing.safetensors", [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. data]);

        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(path));
        Assert.Equal(dropped, e.TensorName);
        Assert.Contains(path, e.Message);
        Assert.Contains("no such tensor", e.Message);
    }

    [Fact]
    public void Shape_disagreeing_with_the_declaration_names_both_shapes()
    {
        string path = Fixture.Path("llama-basic.safetensors");
        var e = Assert.Throws<ModelLoadException>(() => LlamaOdd.Load(path));
        Assert.Equal("model.embed_tokens.weight", e.TensorName);
        Assert.Contains("expected shape [50, 36] from the declaration, found [96, 64]", e.Message);
    }

    [Fact]
    public void A_file_of_another_family_names_the_missing_tensor()
    {
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(Fixture.Path("gpt2-basic.safetensors")));
        Assert.Equal("model.embed_tokens.weight", e.TensorName);
        var g = Assert.Throws<ModelLoadException>(() => Gpt2Basic.Load(Fixture.Path("llama-basic.safetensors")));
        Assert.Equal("wte.weight", g.TensorName);
    }

    [Fact]
    public void Position_table_shorter_than_the_declaration_is_rejected()
    {
        // gpt2-basic's table has 64 rows; a declaration of the same shapes needing 100 positions must not read past it.
        var e = Assert.Throws<ModelLoadException>(() => Gpt2LongContext.Load(Fixture.Path("gpt2-basic.safetensors")));
        Assert.Equal("wpe.weight", e.TensorName);
        Assert.Contains("expected shape [>= 100, 64] (at least 100 rows of 64), found [64, 64]", e.Message);
    }
}
