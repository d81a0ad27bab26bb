using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using Xunit;
using Xunit.Abstractions;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Seeded mutations of a safetensors file and of llama2.c checkpoints: truncations, byte flips, JSON edits to dtype,
/// shape and offsets, header-length fields, appended bytes. Every mutation must load or raise
/// <see cref="ModelLoadException"/>: no other exception, no crash, no hang, and no allocation beyond what the file holds.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>What a run of mutations came to.</summary>
    private sealed class Tally
    {
        public int Mutations, Loaded, LoadErrors;
        public long MostAllocated;
        public readonly List<string> Other = [];
    }

    /// <summary>
    /// Loads every mutation on one thread, with a deadline for the whole run (a hang fails the test instead of stalling
    /// CI), counting outcomes and the bytes each load allocates.
    /// </summary>
    private Tally Run(IEnumerable<(string What, byte[] Bytes)> mutations, Action<string> load)
    {
        var tally = new Tally();
        Exception? crash = null;
        var worker = new Thread(() =>
        {
            try
            {
                int i = 0;
                foreach ((string what, byte[] bytes) in mutations)
                {
                    string path = Path.Combine(_dir, $"m{i++ % 16}.bin");
                    File.WriteAllBytes(path, bytes);
                    tally.Mutations++;
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    try
                    {
                        load(path);
                        tally.Loaded++;
                    }
                    catch (ModelLoadException)
                    {
                        tally.LoadErrors++;
                    }
                    catch (Exception e)
                    {
                        tally.Other.Add($"{what}: {e.GetType().Name}: {e.Message}");
                    }
                    tally.MostAllocated = Math.Max(tally.MostAllocated, GC.GetAllocatedBytesForCurrentThread() - before);
                }
            }
            catch (Exception e)
            {
                crash = e;
            }
        }) { IsBackground = true };
        worker.Start();
        Assert.True(worker.Join(TimeSpan.FromSeconds(120)), $"the fuzz run hung after {tally.Mutations} mutations");
        Assert.Null(crash);
        return tally;
    }

    private void Report(string what, Tally t, long fileBytes)
    {
        output.WriteLine($"{what}: {t.Mutations} mutations, {t.Loaded} loaded, {t.LoadErrors} ModelLoadException, {t.Other.Count} anything else; " +
            $"most allocated by one load {t.MostAllocated / 1024} KiB (file {fileBytes / 1024} KiB)");
        Assert.True(t.Other.Count == 0, $"{t.Other.Count} mutations raised something else: {string.Join(" | ", t.Other.Take(5))}");
        Assert.True(t.Mutations >= 1000, $"only {t.Mutations} mutations");
        // A header that claims 2^60 bytes must not allocate them: a load allocates what the model and the file hold, no more.
        Assert.True(t.MostAllocated < 16L * 1024 * 1024 + 4 * fileBytes, $"one load allocated {t.MostAllocated} bytes");
    }

    // ---------------------------------------------------------------- safetensors

    /// <summary>The weights of <see cref="TinyAwkwardLlama"/> as a safetensors file.</summary>
    private static byte[] TinyLlamaFile(string dir)
    {
        const int D = 20, F = 37, V = 53, Kv = 10;
        var shapes = new List<(string, long[])> { ("model.embed_tokens.weight", [V, D]) };
        string p = "model.layers.0.";
        shapes.Add((p + "input_layernorm.weight", [D]));
        shapes.Add((p + "self_attn.q_proj.weight", [D, D]));
        shapes.Add((p + "self_attn.k_proj.weight", [Kv, D]));
        shapes.Add((p + "self_attn.v_proj.weight", [Kv, D]));
        shapes.Add((p + "self_attn.o_proj.weight", [D, D]));
        shapes.Add((p + "post_attention_layernorm.weight", [D]));
        shapes.Add((p + "mlp.gate_proj.weight", [F, D]));
        shapes.Add((p + "mlp.up_proj.weight", [F, D]));
        shapes.Add((p + "mlp.down_proj.weight", [D, F]));
        shapes.Add(("model.norm.weight", [D]));
        shapes.Add(("lm_head.weight", [V, D]));
        var tensors = shapes.Select(s =>
        {
            var values = new float[s.Item2.Aggregate(1L, (a, b) => a * b)];
            SweepWeights.Fill(s.Item1, 77, 0.3f, s.Item2.Length == 1 ? 1f : 0f, values);
            return new SweepWeights.Tensor(s.Item1, s.Item2, values);
        }).ToList();
        string path = Path.Combine(dir, "tiny.safetensors");
        SweepWeights.WriteSafetensors(path, tensors);
        return File.ReadAllBytes(path);
    }

    private static readonly string[] Values =
    [
        "0", "1", "-1", "7", "4096", "2147483647", "2147483648", "4294967296", "9007199254740993", "1152921504606846976",
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "1e30", "-0", "0.5", "null", "true", "\"8\"", "[]", "{}",
    ];

    private static readonly string[] DTypes = ["\"F32\"", "\"F16\"", "\"BF16\"", "\"I64\"", "\"U8\"", "\"F64\"", "\"Q4_0\"", "\"\"", "32", "null", "[\"F32\"]"];

    private static IEnumerable<(string, byte[])> SafetensorsMutations(byte[] file, int count, int seed)
    {
        var rng = new Random(seed);
        int headerLength = (int)BitConverter.ToUInt64(file);
        string header = Encoding.UTF8.GetString(file, 8, headerLength);
        byte[] data = file[(8 + headerLength)..];
        var entries = Regex.Matches(header, "\"([^\"]+)\":\\{\"dtype\":\"(\\w+)\",\"shape\":\\[([^\\]]*)\\],\"data_offsets\":\\[(\\d+),(\\d+)\\]\\}").ToArray();

        byte[] WithHeader(string h, ulong? length = null)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(h);
            return [.. BitConverter.GetBytes(length ?? (ulong)bytes.Length), .. bytes, .. data];
        }
        string Replace(Match entry, string replacement) => header[..entry.Index] + replacement + header[(entry.Index + entry.Length)..];

        for (int i = 0; i < count; i++)
        {
            Match e = entries[rng.Next(entries.Length)];
            string name = e.Groups[1].Value;
            switch (rng.Next(12))
            {
                case 0: // truncation anywhere, the header included
                {
                    int at = rng.Next(file.Length);
                    yield return ($"truncated at {at}", file[..at]);
                    break;
                }
                case 1: // flips in the header
                {
                    byte[] m = (byte[])file.Clone();
                    int flips = 1 + rng.Next(4);
                    for (int k = 0; k < flips; k++) m[8 + rng.Next(headerLength)] ^= (byte)(1 << rng.Next(8));
                    yield return ($"{flips} header bit flips", m);
                    break;
                }
                case 2: // a byte anywhere set to anything
                {
                    byte[] m = (byte[])file.Clone();
                    int at = rng.Next(m.Length);
                    m[at] = (byte)rng.Next(256);
                    yield return ($"byte {at} set", m);
                    break;
                }
                case 3: // dtype
                {
                    string dtype = DTypes[rng.Next(DTypes.Length)];
                    yield return ($"{name} dtype {dtype}", WithHeader(Replace(e, $"\"{name}\":{{\"dtype\":{dtype},\"shape\":[{e.Groups[3].Value}],\"data_offsets\":[{e.Groups[4].Value},{e.Groups[5].Value}]}}")));
                    break;
                }
                case 4: // shape: a dimension replaced, dropped or added
                {
                    var dims = e.Groups[3].Value.Split(',').ToList();
                    int which = rng.Next(3);
                    if (which == 0) dims[rng.Next(dims.Count)] = Values[rng.Next(Values.Length)];
                    else if (which == 1) dims.RemoveAt(rng.Next(dims.Count));
                    else dims.Insert(rng.Next(dims.Count + 1), Values[rng.Next(Values.Length)]);
                    yield return ($"{name} shape [{string.Join(",", dims)}]", WithHeader(Replace(e, $"\"{name}\":{{\"dtype\":\"{e.Groups[2].Value}\",\"shape\":[{string.Join(",", dims)}],\"data_offsets\":[{e.Groups[4].Value},{e.Groups[5].Value}]}}")));
                    break;
                }
                case 5: // offsets: huge, negative, overflowing, swapped, another tensor's (overlapping), three of them
                {
                    Match other = entries[rng.Next(entries.Length)];
                    string offsets = rng.Next(6) switch
                    {
                        0 => $"{Values[rng.Next(Values.Length)]},{e.Groups[5].Value}",
                        1 => $"{e.Groups[4].Value},{Values[rng.Next(Values.Length)]}",
                        2 => $"{e.Groups[5].Value},{e.Groups[4].Value}",
                        3 => $"{other.Groups[4].Value},{other.Groups[5].Value}",
                        4 => $"{e.Groups[4].Value},{e.Groups[5].Value},{e.Groups[5].Value}",
                        _ => $"{long.Parse(e.Groups[4].Value) + rng.Next(-9, 10)},{long.Parse(e.Groups[5].Value) + rng.Next(-9, 10)}",
                    };
                    yield return ($"{name} data_offsets [{offsets}]", WithHeader(Replace(e, $"\"{name}\":{{\"dtype\":\"{e.Groups[2].Value}\",\"shape\":[{e.Groups[3].Value}],\"data_offsets\":[{offsets}]}}")));
                    break;
                }
                case 6: // an entry twice, or a field twice
                    yield return rng.Next(2) == 0
                        ? ($"{name} twice", WithHeader(header.Insert(1, e.Value + ",")))
                        : ($"{name} dtype twice", WithHeader(Replace(e, e.Value.Replace("{\"dtype\"", $"{{\"dtype\":\"F32\",\"dtype\""))));
                    break;
                case 7: // an entry or a field dropped
                    yield return rng.Next(2) == 0
                        ? ($"{name} dropped", WithHeader(Replace(e, "\"__metadata__\":{}")))
                        : ($"{name} without shape", WithHeader(Replace(e, Regex.Replace(e.Value, ",\"shape\":\\[[^\\]]*\\]", ""))));
                    break;
                case 8: // the header length field
                {
                    ulong[] lengths = [0, 1, 7, (ulong)headerLength - 1, (ulong)headerLength + 1, (ulong)headerLength - (ulong)rng.Next(1, 9),
                        (ulong)file.Length, 1UL << 60, ulong.MaxValue, (ulong)rng.NextInt64(0, file.Length)];
                    ulong length = lengths[rng.Next(lengths.Length)];
                    byte[] m = (byte[])file.Clone();
                    BitConverter.GetBytes(length).CopyTo(m, 0);
                    yield return ($"header length {length}", m);
                    break;
                }
                case 9: // bytes appended
                    yield return ("appended", [.. file, .. Enumerable.Range(0, 1 + rng.Next(64)).Select(_ => (byte)rng.Next(256))]);
                    break;
                case 10: // metadata of another type, a name of other characters
                {
                    string[] edits = ["\"__metadata__\":{\"format\":1}", "\"__metadata__\":[]", "\"__metadata__\":\"pt\"", "\"__metadata__\":{\"a\":\"\\ud800\"}",
                        "\"__metadata__\":{\"format\":\"pt\",\"format\":\"pt\"}", "\"__metadata__\":null"];
                    string edit = edits[rng.Next(edits.Length)];
                    yield return ($"metadata {edit}", WithHeader(Regex.Replace(header, "\"__metadata__\":\\{[^}]*\\}", edit.Replace("$", "$$"))));
                    break;
                }
                default: // structure: the JSON cut, nested deeper, or not an object
                {
                    string[] headers = [header[..rng.Next(header.Length)], "[" + header + "]", header.Replace("{", "{\"x\":{", StringComparison.Ordinal), " " + header,
                        header.TrimEnd() + "}", header.Replace(":", ": ", StringComparison.Ordinal), "{}", header.Replace("\"F32\"", "\"F32\\u0000\"", StringComparison.Ordinal)];
                    int which = rng.Next(headers.Length);
                    yield return ($"structure {which}", WithHeader(headers[which]));
                    break;
                }
            }
        }
    }

    [Fact]
    public void Mutated_safetensors_files_load_or_raise_ModelLoadException()
    {
        byte[] file = TinyLlamaFile(_dir);
        var options = new ModelOptions { Threads = 1 };
        Tally t = Run(SafetensorsMutations(file, 1200, seed: 2024), path => TinyAwkwardLlama.Load(path, options).Dispose());
        Report("safetensors", t, file.Length);
        Assert.True(t.LoadErrors > t.Mutations / 2 && t.Loaded > 0, "the mutations should mostly break the file, and some leave it valid");
    }

    // ---------------------------------------------------------------- llama2.c

    private static IEnumerable<(string, byte[])> Llama2CMutations(byte[] v0, byte[] v1, int count, int seed)
    {
        var rng = new Random(seed);
        int[] special = [0, 1, -1, 2, 3, 6, 7, 48, 128, 1 << 16, 1 << 20, int.MaxValue, int.MinValue, -48, -64];
        for (int i = 0; i < count; i++)
        {
            bool legacy = rng.Next(2) == 0;
            byte[] file = legacy ? v0 : v1;
            int fields = legacy ? 7 : 9;
            byte[] m = (byte[])file.Clone();
            string what;
            switch (rng.Next(5))
            {
                case 0:
                {
                    int at = rng.Next(file.Length);
                    yield return ($"v{(legacy ? 0 : 1)} truncated at {at}", file[..at]);
                    continue;
                }
                case 1:
                case 2:
                {
                    int field = rng.Next(fields), value = rng.Next(3) == 0 ? rng.Next() - rng.Next() : special[rng.Next(special.Length)];
                    BitConverter.GetBytes(value).CopyTo(m, 4 * field);
                    what = $"header int {field} = {value}";
                    break;
                }
                case 3:
                {
                    int at = rng.Next(legacy ? 28 : 256);
                    m[at] = (byte)rng.Next(256);
                    what = $"header byte {at}";
                    break;
                }
                default:
                    yield return ("appended", [.. file, .. new byte[1 + rng.Next(16)]]);
                    continue;
            }
            yield return ($"v{(legacy ? 0 : 1)} {what}", m);
        }
    }

    [Fact]
    public void Mutated_llama2c_checkpoints_load_or_raise_ModelLoadException()
    {
        byte[] v0 = File.ReadAllBytes(Fixture.Path("llama2c-v0.bin")), v1 = File.ReadAllBytes(Fixture.Path("llama2c-v1.bin"));
        var options = new ModelOptions { Threads = 1 };
        Tally t = Run(Llama2CMutations(v0, v1, 1000, seed: 77), path => Llama2CTiny.Load(path, options).Dispose());
        Report("llama2.c", t, v1.Length);
    }

    // ---------------------------------------------------------------- GGUF

    private static IEnumerable<(string, byte[])> GgufMutations(byte[] file, int count, int seed)
    {
        var rng = new Random(seed);
        int header = Math.Min(file.Length, 3072); // the header, metadata and tensor descriptions: where structure is
        for (int i = 0; i < count; i++)
        {
            byte[] m = (byte[])file.Clone();
            switch (rng.Next(6))
            {
                case 0:
                {
                    int at = rng.Next(file.Length);
                    yield return ($"truncated at {at}", file[..at]);
                    continue;
                }
                case 1:
                {
                    int flips = 1 + rng.Next(4);
                    for (int k = 0; k < flips; k++) m[rng.Next(header)] ^= (byte)(1 << rng.Next(8));
                    yield return ($"{flips} header bit flips", m);
                    continue;
                }
                case 2:
                {
                    int at = rng.Next(header - 8);
                    BitConverter.GetBytes(rng.Next(2) == 0 ? ulong.MaxValue - (ulong)rng.Next(1000) : (ulong)rng.Next(1 << 30)).CopyTo(m, at);
                    yield return ($"8 header bytes at {at} set to a large count", m);
                    continue;
                }
                case 3:
                {
                    int at = rng.Next(header);
                    m[at] = (byte)rng.Next(256);
                    yield return ($"header byte {at} set", m);
                    continue;
                }
                case 4:
                {
                    int at = rng.Next(header);
                    byte[] junk = new byte[1 + rng.Next(12)];
                    rng.NextBytes(junk);
                    yield return ($"{junk.Length} bytes inserted at {at}", [.. file[..at], .. junk, .. file[at..]]);
                    continue;
                }
                default:
                {
                    byte[] junk = new byte[1 + rng.Next(40)];
                    rng.NextBytes(junk);
                    yield return ($"{junk.Length} bytes appended", [.. file, .. junk]);
                    continue;
                }
            }
        }
    }

    [Fact]
    public void Mutated_gguf_files_load_or_raise_ModelLoadException()
    {
        byte[] file = File.ReadAllBytes(Fixture.Path("llama-basic-q8_0.gguf"));
        var options = new ModelOptions { Threads = 1 };
        Tally t = Run(GgufMutations(file, 1000, seed: 88), path => LlamaBasic.Load(path, options).Dispose());
        Report("GGUF", t, file.Length);
    }

    // ---------------------------------------------------------------- ONNX

    private static IEnumerable<(string, byte[])> OnnxMutations(byte[] file, int count, int seed)
    {
        var rng = new Random(seed);
        // Where the protobuf structure is: around each raw_data tag (field 9, wire type 2) and every name, not inside the floats.
        var structure = new List<int>();
        for (int i = 0; i < file.Length; i++)
            if (file[i] == 0x4A || file[i] == 0x42 || file[i] == 0x0A || file[i] == 0x2A)
                for (int k = Math.Max(0, i - 24); k < Math.Min(file.Length, i + 8); k++) structure.Add(k);
        for (int i = 0; i < count; i++)
        {
            byte[] m = (byte[])file.Clone();
            switch (rng.Next(7))
            {
                case 0:
                {
                    int at = rng.Next(file.Length);
                    yield return ($"truncated at {at}", file[..at]);
                    continue;
                }
                case 1:
                case 2:
                {
                    int flips = 1 + rng.Next(4);
                    for (int k = 0; k < flips; k++) m[structure[rng.Next(structure.Count)]] ^= (byte)(1 << rng.Next(8));
                    yield return ($"{flips} structure bit flips", m);
                    continue;
                }
                case 3:
                {
                    int at = structure[rng.Next(structure.Count)];
                    m[at] = (byte)rng.Next(256);
                    yield return ($"structure byte {at} set", m);
                    continue;
                }
                case 4:
                {
                    int at = rng.Next(m.Length);
                    m[at] = (byte)rng.Next(256);
                    yield return ($"byte {at} set", m);
                    continue;
                }
                case 5:
                {
                    int at = structure[rng.Next(structure.Count)];
                    byte[] junk = new byte[1 + rng.Next(12)];
                    rng.NextBytes(junk);
                    yield return ($"{junk.Length} bytes inserted at {at}", [.. file[..at], .. junk, .. file[at..]]);
                    continue;
                }
                default:
                {
                    byte[] junk = new byte[1 + rng.Next(40)];
                    rng.NextBytes(junk);
                    yield return ($"{junk.Length} bytes appended", [.. file, .. junk]);
                    continue;
                }
            }
        }
    }

    [Fact]
    public void Mutated_onnx_files_load_or_raise_ModelLoadException()
    {
        string source = Path.Combine(_dir, "bert-basic.onnx");
        using (var weights = SafetensorsFile.Open(Fixture.Path("bert-basic.safetensors")))
            OnnxWriter.WriteBert(source, weights.TensorNames.Order(StringComparer.Ordinal).Select(name =>
            {
                long[] shape = weights.GetShape(name);
                var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
                weights.ReadInto(name, shape, values);
                return new SweepWeights.Tensor(name, shape, values);
            }).ToList());
        byte[] file = File.ReadAllBytes(source);
        var options = new ModelOptions { Threads = 1 };
        Tally t = Run(OnnxMutations(file, 1200, seed: 31), path => BertBasic.Load(path, options).Dispose());
        Report("onnx", t, file.Length);
        Assert.True(t.LoadErrors > t.Mutations / 2 && t.Loaded > 0, "the mutations should mostly break the file, and some leave it valid");
    }
}
