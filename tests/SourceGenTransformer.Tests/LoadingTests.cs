using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Xunit;
using Xunit.Abstractions;
using Tensor = SourceGenTransformer.Tests.SweepWeights.Tensor;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Strict loading: files that would load into the wrong model, files that are not what they claim, and the layouts
/// Hugging Face ships (folders, shards, cache snapshots of symbolic links). Each test names the defect it guards.
/// </summary>
public sealed class LoadingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-loading-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string At(string name) => Path.Combine(_dir, name);

    /// <summary>Every tensor of a fixture, as float32.</summary>
    internal static List<Tensor> ReadAll(string path)
    {
        using var file = SafetensorsFile.Open(path);
        return file.Tensors.Values.OrderBy(t => t.Offset).Select(t =>
        {
            var values = new float[t.ElementCount];
            file.ReadInto(t.Name, t.Shape, values);
            return new Tensor(t.Name, t.Shape, values);
        }).ToList();
    }

    private string Write(string name, IEnumerable<Tensor> tensors)
    {
        string path = At(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        SweepWeights.WriteSafetensors(path, tensors.ToList());
        return path;
    }

    private static float[] FirstLogits(IDecoderModel model)
    {
        IDecoderSession session = model.CreateDecoderSession();
        return session.Forward([3, 14, 15, 9, 2]).ToArray();
    }

    private static float[] Reference() => FirstLogits(LlamaBasic.Load(Fixture.Path("llama-basic.safetensors")));

    // ---------------------------------------------------------------- files that fit another model

    [Fact]
    public void Layers_beyond_the_declaration_are_an_error()
    {
        // The defect: Layers = 2 against a 4-layer file loaded, and the extra layers were ignored.
        List<Tensor> tensors = ReadAll(Fixture.Path("llama-basic.safetensors"));
        var extra = tensors.Where(t => t.Name.StartsWith("model.layers.1.", StringComparison.Ordinal))
            .SelectMany(t => new[] { 2, 3 }.Select(l => t with { Name = t.Name.Replace("model.layers.1.", $"model.layers.{l}.") }));
        string path = Write("four-layers.safetensors", tensors.Concat(extra));
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(path));
        Assert.StartsWith("model.layers.2.", e.TensorName);
        Assert.Contains("holds layers up to 3 (4 layers or more) but LlamaBasic declares Layers = 2", e.Message);
        Assert.Contains("declare Layers = 4", e.Message);
    }

    [Fact]
    public void A_tied_declaration_refuses_a_separate_classifier_but_accepts_a_saved_copy()
    {
        // The defect: TiedEmbeddings = true against a file holding lm_head.weight loaded, and the trained classifier was ignored.
        List<Tensor> tensors = ReadAll(Fixture.Path("llama-gqa-tied.safetensors"));
        Tensor embedding = tensors.Single(t => t.Name == "model.embed_tokens.weight");
        float[] other = embedding.Values.Select((v, i) => i == 7 ? v + 1f : v).ToArray();
        string separate = Write("separate.safetensors", tensors.Append(new Tensor("lm_head.weight", embedding.Shape, other)));
        var e = Assert.Throws<ModelLoadException>(() => LlamaGqaTied.Load(separate));
        Assert.Equal("lm_head.weight", e.TensorName);
        Assert.Contains("LlamaGqaTied declares TiedEmbeddings = true", e.Message);
        Assert.Contains("element 7 differs", e.Message);

        string copy = Write("copy.safetensors", tensors.Append(embedding with { Name = "lm_head.weight" }));
        Assert.Equal(FirstLogits(LlamaGqaTied.Load(Fixture.Path("llama-gqa-tied.safetensors"))), FirstLogits(LlamaGqaTied.Load(copy)));
    }

    [Fact]
    public void A_bias_the_family_has_none_of_is_an_error_and_known_buffers_are_skipped()
    {
        List<Tensor> tensors = ReadAll(Fixture.Path("llama-basic.safetensors"));
        string biased = Write("biased.safetensors", tensors.Append(new Tensor("model.layers.0.self_attn.q_proj.bias", [64], new float[64])));
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(biased));
        Assert.Equal("model.layers.0.self_attn.q_proj.bias", e.TensorName);
        Assert.Contains("leaves 1 unread", e.Message);

        // RoPE's inv_freq buffer, which older Hugging Face checkpoints save, is no weight: skipped.
        string buffers = Write("buffers.safetensors", tensors.Append(new Tensor("model.layers.0.self_attn.rotary_emb.inv_freq", [8], new float[8])));
        Assert.Equal(Reference(), FirstLogits(LlamaBasic.Load(buffers)));
    }

    [Fact]
    public void Gpt2_mask_buffers_are_skipped()
    {
        List<Tensor> tensors = ReadAll(Fixture.Path("gpt2-basic.safetensors"));
        string path = Write("gpt2-buffers.safetensors", tensors
            .Append(new Tensor("h.0.attn.bias", [1, 1, 4, 4], new float[16]))
            .Append(new Tensor("h.0.attn.masked_bias", [], [-10000f])));
        Gpt2Basic.Load(path).Dispose();
    }

    // ---------------------------------------------------------------- folders, shards, links

    [Fact]
    public void A_folder_loads_its_model_safetensors()
    {
        // The defect: a directory path said "Weight file not found" although the directory exists.
        string folder = At("hf-model");
        Directory.CreateDirectory(folder);
        File.Copy(Fixture.Path("llama-basic.safetensors"), Path.Combine(folder, "model.safetensors"));
        Assert.Equal(Reference(), FirstLogits(LlamaBasic.Load(folder)));
    }

    [Fact]
    public void A_folder_without_a_model_says_what_it_holds()
    {
        string folder = At("not-a-model");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(folder));
        Assert.Contains("this is a directory, and it holds neither model.safetensors nor model.safetensors.index.json (it holds config.json)", e.Message);
    }

    /// <summary>Writes the fixture's tensors as two shards and an index, as Hugging Face's save_pretrained shards a model.</summary>
    private static void WriteShards(string folder, List<Tensor> tensors, Func<string, string>? rename = null)
    {
        Directory.CreateDirectory(folder);
        var map = new Dictionary<string, string>();
        for (int s = 0; s < 2; s++)
        {
            string shard = $"model-{s + 1:00000}-of-00002.safetensors";
            var part = tensors.Where((_, i) => i % 2 == s).ToList();
            SweepWeights.WriteSafetensors(Path.Combine(folder, shard), part);
            foreach (Tensor t in part) map[t.Name] = rename?.Invoke(shard) ?? shard;
        }
        string weightMap = string.Join(",", map.Select(kv => $"\"{kv.Key}\":\"{kv.Value}\""));
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), $"{{\"metadata\":{{\"total_size\":0}},\"weight_map\":{{{weightMap}}}}}");
    }

    [Fact]
    public void A_sharded_model_loads_from_its_index_or_its_folder()
    {
        string folder = At("sharded");
        WriteShards(folder, ReadAll(Fixture.Path("llama-basic.safetensors")));
        float[] expected = Reference();
        Assert.Equal(expected, FirstLogits(LlamaBasic.Load(folder)));
        Assert.Equal(expected, FirstLogits(LlamaBasic.Load(Path.Combine(folder, "model.safetensors.index.json"))));
        using var source = (ShardedSafetensors)WeightFile.Open(folder);
        Assert.Equal(2, source.Shards.Count);
    }

    [Fact]
    public void An_index_that_disagrees_with_its_shards_is_an_error()
    {
        List<Tensor> tensors = ReadAll(Fixture.Path("llama-basic.safetensors"));
        string missing = At("missing-shard");
        WriteShards(missing, tensors);
        File.Delete(Path.Combine(missing, "model-00002-of-00002.safetensors"));
        Assert.Contains("which is not beside the index", Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(missing)).Message);

        string escaping = At("escaping");
        WriteShards(escaping, tensors, shard => "../" + shard);
        Assert.Contains("outside the index's folder", Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(escaping)).Message);

        string swapped = At("swapped");
        WriteShards(swapped, tensors, shard => shard.Contains("00001") ? shard.Replace("00001-of", "00002-of") : shard);
        var e = Assert.Throws<ModelLoadException>(() => LlamaBasic.Load(swapped));
        Assert.Contains("the shard does not hold it", e.Message);
    }

    [Fact]
    public void A_hugging_face_cache_snapshot_of_links_loads()
    {
        // The defect: a weight file reached through a symbolic link read the link's own length ("only 28 bytes follow it").
        // The cache keeps files in blobs/ by hash and links them from snapshots/<revision>/.
        string repo = At("models--test--llama-basic");
        string blobs = Path.Combine(repo, "blobs"), snapshot = Path.Combine(repo, "snapshots", "0123abcd");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        File.Copy(Fixture.Path("llama-basic.safetensors"), Path.Combine(blobs, "9f86d081884c7d65"));
        File.CreateSymbolicLink(Path.Combine(snapshot, "model.safetensors"), "../../blobs/9f86d081884c7d65");
        float[] expected = Reference();
        Assert.Equal(expected, FirstLogits(LlamaBasic.Load(snapshot)));
        Assert.Equal(expected, FirstLogits(LlamaBasic.Load(Path.Combine(snapshot, "model.safetensors"))));

        // Sharded, every file a link into blobs/ under a hash name.
        string sharded = At("models--test--sharded");
        string staging = Path.Combine(sharded, "staging"), shardedBlobs = Path.Combine(sharded, "blobs"), shardedSnapshot = Path.Combine(sharded, "snapshots", "rev");
        WriteShards(staging, ReadAll(Fixture.Path("llama-basic.safetensors")));
        Directory.CreateDirectory(shardedBlobs);
        Directory.CreateDirectory(shardedSnapshot);
        int n = 0;
        foreach (string file in Directory.GetFiles(staging))
        {
            string blob = $"blob{n++}";
            File.Move(file, Path.Combine(shardedBlobs, blob));
            File.CreateSymbolicLink(Path.Combine(shardedSnapshot, Path.GetFileName(file)), Path.Combine("..", "..", "blobs", blob));
        }
        Assert.Equal(expected, FirstLogits(LlamaBasic.Load(shardedSnapshot)));
    }

    [Fact]
    public void A_broken_link_and_a_pipe_are_clear_errors_and_never_hang()
    {
        string link = At("dangling.safetensors");
        File.CreateSymbolicLink(link, At("nowhere.safetensors"));
        var missing = Assert.Throws<FileNotFoundException>(() => LlamaBasic.Load(link));
        Assert.Contains("is a link to", missing.Message);

        // The defect: Load on a FIFO blocked forever in open().
        string fifo = At("pipe.safetensors");
        using (Process mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        Exception? error = null;
        var load = new Thread(() => error = Record.Exception(() => LlamaBasic.Load(fifo))) { IsBackground = true };
        load.Start();
        Assert.True(load.Join(TimeSpan.FromSeconds(20)), "Load of a FIFO did not return");
        var e = Assert.IsType<ModelLoadException>(error);
        Assert.Contains("not a regular file", e.Message);
    }

    // ---------------------------------------------------------------- bytes that lie

    /// <summary>A safetensors file of one F32 tensor "w" (4 values) whose header is padded with spaces to 8 bytes plus <paramref name="extraPadding"/>.</summary>
    private static byte[] PaddedFile(int extraPadding)
    {
        var header = new StringBuilder("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}");
        while (header.Length % 8 != 0) header.Append(' ');
        header.Append(' ', extraPadding);
        byte[] h = Encoding.UTF8.GetBytes(header.ToString());
        return [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. Enumerable.Range(1, 16).Select(i => (byte)i)];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void A_header_length_pointing_into_the_padding_is_an_error(int shortBy)
    {
        // The defect: the header still parsed, and every tensor was read shifted by the missing bytes.
        byte[] bytes = PaddedFile(8);
        BitConverter.GetBytes(BitConverter.ToUInt64(bytes) - (ulong)shortBy).CopyTo(bytes, 0);
        string path = At("shifted.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains($"the tensors end at byte 16 of the data section, but it holds {16 + shortBy} bytes", e.Message);
    }

    [Fact]
    public void Trailing_bytes_and_non_space_padding_are_errors()
    {
        string trailing = At("trailing.safetensors");
        File.WriteAllBytes(trailing, [.. PaddedFile(0), 0, 0, 0, 0]);
        Assert.Contains("bytes were appended", Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(trailing).Dispose()).Message);

        byte[] tab = PaddedFile(4);
        tab[Array.LastIndexOf(tab, (byte)'}') + 1] = (byte)'\t';
        string tabbed = At("tab.safetensors");
        File.WriteAllBytes(tabbed, tab);
        Assert.Contains("only space padding may follow the object", Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(tabbed).Dispose()).Message);
    }

    private ModelLoadException HeaderFails(string header, int dataBytes = 16)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        return HeaderBytesFail(h, dataBytes);
    }

    private ModelLoadException HeaderBytesFail(byte[] h, int dataBytes = 16)
    {
        string path = At($"h{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. new byte[dataBytes]]);
        var e = Assert.Throws<ModelLoadException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        return e;
    }

    [Fact]
    public void Header_strings_that_are_not_text_and_values_of_the_wrong_type_are_load_errors()
    {
        // The defects: each raised a bare InvalidOperationException from System.Text.Json that named no file.
        byte[] invalid = Encoding.UTF8.GetBytes("{\"wX\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}");
        invalid[Array.IndexOf(invalid, (byte)'X')] = 0xFF;
        Assert.Contains("not valid UTF-8", HeaderBytesFail(invalid).Message);
        Assert.Contains("not valid text", HeaderFails("{\"w\\ud800\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}").Message);
        Assert.Contains("entry 1 is not a non-negative integer (Null)", HeaderFails("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,null]}}").Message);
        Assert.Contains("entry 0 is not a non-negative integer (1.5)", HeaderFails("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,16]}}").Message);
        Assert.Contains("'dtype' must be a string", HeaderFails("{\"w\":{\"dtype\":32,\"shape\":[4],\"data_offsets\":[0,16]}}").Message);
        Assert.Contains("must be a pair", HeaderFails("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8,16]}}").Message);
    }

    [Fact]
    public void A_field_given_twice_is_an_error()
    {
        // The defect: the last value won.
        var e = HeaderFails("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"shape\":[2],\"data_offsets\":[0,16]}}");
        Assert.Equal("w", e.TensorName);
        Assert.Contains("gives 'shape' twice", e.Message);
        Assert.Contains("names this entry twice", HeaderFails("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}").Message);
    }

    [Fact]
    public void Zero_size_tensors_are_valid_wherever_they_sit_in_any_key_order()
    {
        // The defect: a zero-size tensor sharing an offset with a real one was rejected in 9 of 24 key orders.
        string[] entries =
        [
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}",
            "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}",
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}",
            "\"y\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[0,0]}",
        ];
        int orders = 0;
        foreach (int[] order in Permutations([0, 1, 2, 3]))
        {
            byte[] h = Encoding.UTF8.GetBytes("{" + string.Join(",", order.Select(i => entries[i])) + "}");
            string path = At($"zero{orders++}.safetensors");
            File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. new byte[16]]);
            using var file = SafetensorsFile.Open(path);
            Assert.Equal(4, file.Tensors.Count);
            file.ReadInto("z", [0], Span<float>.Empty);
        }
        Assert.Equal(24, orders);
    }

    private static IEnumerable<int[]> Permutations(int[] items) => items.Length <= 1
        ? [items]
        : items.SelectMany(x => Permutations(items.Where(y => y != x).ToArray()).Select(rest => (int[])[x, .. rest]));

    [Fact]
    public void Non_finite_weights_are_an_error_naming_the_tensor_and_element_unless_the_check_is_off()
    {
        // The defect: NaN or Inf weights loaded silently in every precision.
        List<Tensor> tensors = ReadAll(Fixture.Path("llama-basic.safetensors"));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
        {
            var copy = tensors.Select(t => t with { Values = (float[])t.Values.Clone() }).ToList();
            copy.Single(t => t.Name == "model.layers.1.mlp.down_proj.weight").Values[1234] = bad;
            string path = Write($"bad-{bad}.safetensors", copy);
            foreach (Func<string, ModelOptions?, IDisposable> load in new Func<string, ModelOptions?, IDisposable>[]
                { LlamaBasic.Load, LlamaBasicBf16.Load, LlamaBasicInt8.Load })
            {
                var e = Assert.Throws<ModelLoadException>(() => load(path, null));
                Assert.Equal("model.layers.1.mlp.down_proj.weight", e.TensorName);
                Assert.Contains($"element 1234 (of shape [64, 160]) is {bad.ToString(System.Globalization.CultureInfo.InvariantCulture)}", e.Message);
                load(path, new ModelOptions { CheckFiniteWeights = false }).Dispose();
            }
        }
    }

    [Fact]
    public void A_file_truncated_while_another_thread_loads_it_gives_a_load_error_never_a_signal()
    {
        // The defect: the mapping's pages vanished under the reader and the process died of SIGBUS (exit 135).
        List<Tensor> tensors = ReadAll(Fixture.Path("llama-basic.safetensors"));
        string original = Write("whole.safetensors", tensors);
        byte[] bytes = File.ReadAllBytes(original);
        int loaded = 0, failed = 0;
        var rng = new Random(12);
        for (int i = 0; i < 50; i++)
        {
            string path = At($"cut{i}.safetensors");
            File.WriteAllBytes(path, bytes);
            using var ready = new ManualResetEventSlim();
            Exception? error = null;
            var loader = new Thread(() =>
            {
                ready.Set();
                error = Record.Exception(() => LlamaBasic.Load(path, new ModelOptions { Threads = 1 }).Dispose());
            });
            loader.Start();
            ready.Wait();
            Thread.SpinWait(rng.Next(0, 30_000));
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
                f.SetLength(rng.Next(0, bytes.Length));
            loader.Join();
            if (error is null) loaded++;
            else
            {
                var e = Assert.IsType<ModelLoadException>(error);
                Assert.Contains(path, e.Message);
                failed++;
            }
        }
        output.WriteLine($"50 loads while the file was cut short: {loaded} loaded, {failed} ModelLoadException");
        Assert.Equal(50, loaded + failed);
    }

    // ---------------------------------------------------------------- llama2.c headers

    private string PatchLlama2C(string fixture, int intIndex, int value)
    {
        byte[] bytes = File.ReadAllBytes(Fixture.Path(fixture));
        BitConverter.GetBytes(value).CopyTo(bytes, 4 * intIndex);
        string path = At($"{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void A_llama2c_vocab_of_int_min_value_is_a_load_error()
    {
        // The defect: OverflowException from Math.Abs.
        var e = Assert.Throws<ModelLoadException>(() => Llama2CTiny.Load(PatchLlama2C("llama2c-v0.bin", 5, int.MinValue)));
        Assert.Contains("does not describe a llama2.c model", e.Message);
    }

    [Fact]
    public void A_llama2c_header_whose_heads_or_context_disagree_with_the_declaration_is_an_error()
    {
        // The defect: it loaded with the wrong RoPE permutation, logits off by 0.17 to 0.39; v1 ignored seq_len.
        // v1 ints: magic, version, dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len. Twice the heads and
        // twice the key/value heads keep the file's length (kv_dim is the same), so only the declaration can tell.
        string path = PatchLlama2C("llama2c-v1.bin", 5, 12);
        byte[] bytes = File.ReadAllBytes(path);
        BitConverter.GetBytes(4).CopyTo(bytes, 4 * 6);
        File.WriteAllBytes(path, bytes);
        var heads = Assert.Throws<ModelLoadException>(() => Llama2CTiny.Load(path));
        Assert.Contains("n_heads = 12 where the declaration has Heads = 6; n_kv_heads = 4 where the declaration has KvHeads = 2", heads.Message);

        var context = Assert.Throws<ModelLoadException>(() => Llama2CTiny.Load(PatchLlama2C("llama2c-v1.bin", 8, 16)));
        Assert.Contains("seq_len = 16, shorter than the declaration's MaxSequenceLength = 32", context.Message);
        Llama2CTiny.Load(PatchLlama2C("llama2c-v1.bin", 8, 64)).Dispose(); // a longer trained context is fine
    }
}
