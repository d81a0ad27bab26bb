using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer;

/// <summary>The ggml tensor types a GGUF file may hold that this reader reads (their values are ggml's own type ids).</summary>
public enum GgmlType
{
    /// <summary>float32.</summary>
    F32 = 0,
    /// <summary>IEEE float16.</summary>
    F16 = 1,
    /// <summary>Blocks of 32: a float16 scale and 32 4-bit values less 8.</summary>
    Q4_0 = 2,
    /// <summary>Blocks of 32: a float16 scale and minimum, 32 4-bit values.</summary>
    Q4_1 = 3,
    /// <summary>Blocks of 32: a float16 scale and 32 5-bit values less 16.</summary>
    Q5_0 = 6,
    /// <summary>Blocks of 32: a float16 scale and minimum, 32 5-bit values.</summary>
    Q5_1 = 7,
    /// <summary>Blocks of 32: a float16 scale and 32 int8 values.</summary>
    Q8_0 = 8,
    /// <summary>Super-blocks of 256: 4-bit sub-block scales and minima, 2-bit values.</summary>
    Q2_K = 10,
    /// <summary>Super-blocks of 256: 6-bit sub-block scales, 3-bit values.</summary>
    Q3_K = 11,
    /// <summary>Super-blocks of 256: float16 scale and minimum, 6-bit sub-block scales and minima, 4-bit values.</summary>
    Q4_K = 12,
    /// <summary>Super-blocks of 256: float16 scale and minimum, 6-bit sub-block scales and minima, 5-bit values.</summary>
    Q5_K = 13,
    /// <summary>Super-blocks of 256: 6-bit values, int8 sub-block scales, a float16 scale.</summary>
    Q6_K = 14,
    /// <summary>bfloat16.</summary>
    BF16 = 30,
}

/// <summary>
/// A GGUF file (llama.cpp's format, versions 2 and 3), exposed under Hugging Face tensor names so that a declaration of
/// the llama, qwen2 or qwen3 architecture loads it. The header, every metadata key/value and every tensor's name, shape,
/// type and offset are validated with checked arithmetic before any weight is read: offsets aligned to
/// <c>general.alignment</c>, tensors inside the file and not overlapping, row lengths whole blocks. Tensors are widened
/// to float32 as they are read (each block dequantised as ggml does). llama.cpp stores the llama architecture's query and
/// key rows in Meta's interleaved RoPE layout, so those are permuted back, as for llama2.c. The architecture's metadata
/// (block count, embedding length, feed-forward length, head counts, context length, RoPE base, norm epsilon) must
/// agree with the declaration: a disagreement is a <see cref="ModelLoadException"/> naming the key and both values.
/// </summary>
public sealed class GgufFile : TensorSource
{
    internal const uint Magic = 0x46554747; // "GGUF" as a little-endian uint32

    private const long MaxTensors = 1 << 20, MaxKeys = 1 << 20, MaxArray = 1L << 28, MaxStringBytes = 1 << 26;

    private readonly WeightFileReader _file;
    private readonly Dictionary<string, object> _metadata = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> _byGgufName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (Tensor Tensor, int PermuteHeads)> _byName = new(StringComparer.Ordinal);

    private sealed record Tensor(string Name, long[] Dims, GgmlType Type, long Offset, long Bytes)
    {
        /// <summary>Row-major shape (ggml lists the innermost dimension first).</summary>
        public long[] Shape => Dims.Reverse().ToArray();
    }

    private GgufFile(WeightFileReader file, bool checkFinite) : base(file.FilePath, checkFinite)
    {
        _file = file;
        try
        {
            Parse();
        }
        catch (OverflowException)
        {
            throw new ModelLoadException(FilePath, null, "a size or offset in the GGUF header overflows 64 bits: the header is corrupt.");
        }
        Architecture = _metadata.TryGetValue("general.architecture", out object? a) && a is string arch ? arch
            : throw new ModelLoadException(FilePath, null, "the GGUF metadata has no general.architecture string.");
        MapNames();
    }

    /// <summary>The file's GGUF version (2 or 3).</summary>
    public uint Version { get; private set; }

    /// <summary><c>general.architecture</c>: llama, qwen2 or qwen3.</summary>
    public string Architecture { get; }

    /// <summary>Every metadata key and its value (integers as long or ulong, floats as double, arrays as object[]).</summary>
    public IReadOnlyDictionary<string, object> Metadata => _metadata;

    /// <summary>The shape of each tensor (outermost dimension first, as safetensors writes it), by its GGUF name.</summary>
    public IReadOnlyDictionary<string, long[]> TensorShapes => _byGgufName.ToDictionary(t => t.Key, t => t.Value.Shape, StringComparer.Ordinal);

    /// <summary>The ggml type of each tensor, by its GGUF name.</summary>
    public IReadOnlyDictionary<string, GgmlType> TensorTypes => _byGgufName.ToDictionary(t => t.Key, t => t.Value.Type, StringComparer.Ordinal);

    /// <inheritdoc/>
    public override IEnumerable<string> TensorNames => _byName.Keys;

    internal static GgufFile Open(WeightFileReader file, ModelOptions? options) => new(file, options?.CheckFiniteWeights ?? true);

    /// <summary>Opens and validates a GGUF file.</summary>
    /// <exception cref="System.IO.FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelLoadException">The file is not a valid GGUF file of a supported architecture and types.</exception>
    public static GgufFile Open(string path, ModelOptions? options = null)
        => WeightFileReader.OpenWith(path, file => Open(file, options));

    /// <summary>A sequential, bounds-checked reader over the header.</summary>
    private sealed class Cursor(WeightFileReader file, string path)
    {
        private readonly byte[] _scratch = new byte[8];
        public long Position;

        public long Remaining => file.Length - Position;

        private ReadOnlySpan<byte> Take(int n, string what)
        {
            if (n > file.Length - Position)
                throw new ModelLoadException(path, null, $"the GGUF header ends inside {what} at byte {Position} (the file is {file.Length} bytes).");
            file.ReadExactly(Position, _scratch.AsSpan(0, n), null, what);
            Position += n;
            return _scratch.AsSpan(0, n);
        }

        public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
        public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
        public byte U8(string what) => Take(1, what)[0];
        public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));

        public string String(string what)
        {
            ulong length = U64(what);
            if (length > MaxStringBytes || (long)length > file.Length - Position)
                throw new ModelLoadException(path, null, $"{what} claims {length} bytes at byte {Position}, past the end of the file ({file.Length} bytes).");
            var bytes = new byte[(int)length];
            file.ReadExactly(Position, bytes, null, what);
            Position += (long)length;
            try
            {
                return new UTF8Encoding(false, true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw new ModelLoadException(path, null, $"{what} at byte {Position - (long)length} is not UTF-8.");
            }
        }
    }

    private void Parse()
    {
        var c = new Cursor(_file, FilePath);
        if (_file.Length < 24) throw new ModelLoadException(FilePath, null, $"the file is {_file.Length} bytes, too short for a GGUF header (24 bytes).");
        if (c.U32("the magic") != Magic) throw new ModelLoadException(FilePath, null, "the file does not start with \"GGUF\".");
        Version = c.U32("the version");
        if (Version is not (2 or 3))
            throw new ModelLoadException(FilePath, null, $"GGUF version {Version} is not supported; versions 2 and 3 are.");
        ulong tensors = c.U64("the tensor count"), keys = c.U64("the metadata count");
        if (tensors > MaxTensors) throw new ModelLoadException(FilePath, null, $"the header claims {tensors} tensors (at most {MaxTensors} are read).");
        if (keys > MaxKeys) throw new ModelLoadException(FilePath, null, $"the header claims {keys} metadata keys (at most {MaxKeys} are read).");
        // A key takes at least 12 bytes and a tensor's description 28: counts the file cannot hold are refused at once.
        if ((long)keys * 12 + (long)tensors * 28 > c.Remaining)
            throw new ModelLoadException(FilePath, null, $"the header claims {keys} metadata keys and {tensors} tensors, more than the file's {_file.Length} bytes hold.");
        for (ulong k = 0; k < keys; k++)
        {
            string key = c.String($"metadata key {k}");
            uint type = c.U32($"the type of \"{key}\"");
            object value = Value(c, type, key, depth: 0);
            if (!_metadata.TryAdd(key, value)) throw new ModelLoadException(FilePath, null, $"the metadata key \"{key}\" appears twice.");
        }
        long alignment = 32;
        if (_metadata.TryGetValue("general.alignment", out object? a))
        {
            alignment = a is ulong u && u is > 0 and <= 1 << 20 && (u & (u - 1)) == 0 ? (long)u
                : throw new ModelLoadException(FilePath, null, $"general.alignment is {a}; it must be a power of two (as an unsigned integer).");
        }
        var infos = new List<Tensor>();
        for (ulong t = 0; t < tensors; t++)
        {
            string name = c.String($"the name of tensor {t}");
            uint dims = c.U32($"the dimension count of \"{name}\"");
            if (dims is 0 or > 4) throw new ModelLoadException(FilePath, name, $"the tensor has {dims} dimensions; GGUF tensors have 1 to 4.");
            var shape = new long[dims];
            long elements = 1;
            for (int d = 0; d < dims; d++)
            {
                ulong n = c.U64($"dimension {d} of \"{name}\"");
                if (n == 0 || n > int.MaxValue) throw new ModelLoadException(FilePath, name, $"dimension {d} is {n}.");
                shape[d] = (long)n;
                elements = checked(elements * (long)n);
            }
            uint rawType = c.U32($"the type of \"{name}\"");
            if (!Enum.IsDefined((GgmlType)rawType))
                throw new ModelLoadException(FilePath, name, $"the tensor's ggml type {rawType} is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).");
            var type = (GgmlType)rawType;
            (int block, int blockBytes) = BlockOf(type);
            if (shape[0] % block != 0)
                throw new ModelLoadException(FilePath, name, $"rows of {shape[0]} values are not whole {type} blocks of {block}.");
            ulong offset = c.U64($"the offset of \"{name}\"");
            if (offset % (ulong)alignment != 0)
                throw new ModelLoadException(FilePath, name, $"the data offset {offset} is not a multiple of general.alignment {alignment}.");
            if (offset > (ulong)_file.Length)
                throw new ModelLoadException(FilePath, name, $"the data offset {offset} lies past the end of the file ({_file.Length} bytes).");
            infos.Add(new Tensor(name, shape, type, (long)offset, checked(elements / block * blockBytes)));
        }
        long data = checked((c.Position + alignment - 1) / alignment * alignment);
        long end = data;
        foreach (Tensor t in infos.OrderBy(t => t.Offset))
        {
            long start = checked(data + t.Offset);
            if (start < end)
                throw new ModelLoadException(FilePath, t.Name, $"the tensor's data (from byte {start}) overlaps the previous tensor's (to byte {end}).");
            end = checked(start + t.Bytes);
            if (end > _file.Length)
                throw new ModelLoadException(FilePath, t.Name, $"the tensor's {t.Bytes} bytes at byte {start} run past the end of the file ({_file.Length} bytes).");
            var placed = t with { Offset = start };
            if (!_byGgufName.TryAdd(t.Name, placed)) throw new ModelLoadException(FilePath, t.Name, "two tensors have this name.");
        }
    }

    private object Value(Cursor c, uint type, string key, int depth)
    {
        string what = $"the value of \"{key}\"";
        switch (type)
        {
            case 0: return (ulong)c.U8(what);
            case 1: return (long)(sbyte)c.U8(what);
            case 2: return (ulong)c.U16(what);
            case 3: return (long)(short)c.U16(what);
            case 4: return (ulong)c.U32(what);
            case 5: return (long)(int)c.U32(what);
            case 6: return (double)BitConverter.UInt32BitsToSingle(c.U32(what));
            case 7:
                byte b = c.U8(what);
                return b switch { 0 => false, 1 => true, _ => throw new ModelLoadException(FilePath, null, $"{what} is a bool of byte {b}.") };
            case 8: return c.String(what);
            case 9:
            {
                if (depth > 0) throw new ModelLoadException(FilePath, null, $"{what} nests an array in an array.");
                uint itemType = c.U32($"the item type of \"{key}\"");
                ulong count = c.U64($"the length of \"{key}\"");
                // Every item takes at least a byte: a count beyond the bytes left is malformed, and is refused before any allocation.
                if (count > MaxArray || (long)count > c.Remaining)
                    throw new ModelLoadException(FilePath, null, $"{what} claims {count} items, more than the {c.Remaining} bytes left in the file hold.");
                var items = new object[count];
                for (ulong i = 0; i < count; i++) items[i] = Value(c, itemType, key, depth + 1);
                return items;
            }
            case 10: return c.U64(what);
            case 11: return (long)c.U64(what);
            case 12: return BitConverter.UInt64BitsToDouble(c.U64(what));
            default: throw new ModelLoadException(FilePath, null, $"{what} has metadata type {type}, which GGUF does not define.");
        }
    }

    /// <summary>Values per block and bytes per block of each type.</summary>
    public static (int Block, int Bytes) BlockOf(GgmlType type) => GgmlQuants.BlockOf(type);

    private void MapNames()
    {
        bool permute = Architecture == "llama";
        if (Architecture is not ("llama" or "qwen2" or "qwen3"))
            throw new ModelLoadException(FilePath, null, $"general.architecture \"{Architecture}\" is not supported; GGUF files of llama, qwen2 and qwen3 load.");
        long heads = Int($"{Architecture}.attention.head_count"), kvHeads = _metadata.ContainsKey($"{Architecture}.attention.head_count_kv")
            ? Int($"{Architecture}.attention.head_count_kv") : heads;
        var rename = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["attn_norm"] = "input_layernorm", ["ffn_norm"] = "post_attention_layernorm",
            ["attn_q"] = "self_attn.q_proj", ["attn_k"] = "self_attn.k_proj", ["attn_v"] = "self_attn.v_proj", ["attn_output"] = "self_attn.o_proj",
            ["attn_q_norm"] = "self_attn.q_norm", ["attn_k_norm"] = "self_attn.k_norm",
            ["ffn_gate"] = "mlp.gate_proj", ["ffn_up"] = "mlp.up_proj", ["ffn_down"] = "mlp.down_proj",
        };
        foreach (Tensor t in _byGgufName.Values)
        {
            string? name = t.Name switch
            {
                "token_embd.weight" => "model.embed_tokens.weight",
                "output_norm.weight" => "model.norm.weight",
                "output.weight" => "lm_head.weight",
                "rope_freqs.weight" => null, // llama.cpp's stored RoPE factors; the declaration computes its own
                _ => null,
            };
            int permuteHeads = 0;
            if (name is null && t.Name.StartsWith("blk.", StringComparison.Ordinal))
            {
                string[] parts = t.Name.Split('.');
                if (parts.Length == 4 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int layer) && rename.TryGetValue(parts[2], out string? hf))
                {
                    name = $"model.layers.{layer}.{hf}.{parts[3]}";
                    if (permute && parts[2] == "attn_q") permuteHeads = (int)heads;
                    if (permute && parts[2] == "attn_k") permuteHeads = (int)kvHeads;
                }
            }
            if (name is null)
            {
                if (t.Name == "rope_freqs.weight") continue;
                throw new ModelLoadException(FilePath, t.Name, $"the tensor is not one of the {Architecture} architecture's llama.cpp names this reader maps.");
            }
            _byName[name] = (t, permuteHeads);
        }
        if (!_byName.ContainsKey("lm_head.weight") && _byName.TryGetValue("model.embed_tokens.weight", out var embedding))
            _byName["lm_head.weight"] = embedding; // llama.cpp leaves out output.weight when the classifier is tied
    }

    private long Int(string key) => _metadata.TryGetValue(key, out object? v) ? v switch
    {
        ulong u when u <= long.MaxValue => (long)u,
        long l => l,
        _ => throw new ModelLoadException(FilePath, null, $"the metadata key {key} is {v}, not an integer."),
    } : throw new ModelLoadException(FilePath, null, $"the GGUF metadata has no {key}.");

    /// <summary>The architecture's metadata must describe the declared model.</summary>
    protected override void OnDeclared(DeclaredModel model)
    {
        var wrong = new List<string>();
        void Same(string key, long declared, string property)
        {
            long found = Int($"{Architecture}.{key}");
            if (found != declared) wrong.Add($"{Architecture}.{key} = {found} where the declaration has {property} = {declared}");
        }
        Same("block_count", model.Layers, "Layers");
        Same("embedding_length", model.ModelDim, "ModelDim");
        Same("feed_forward_length", model.FeedForwardDim, "FeedForwardDim");
        Same("attention.head_count", model.Heads, "Heads");
        if (_metadata.ContainsKey($"{Architecture}.attention.head_count_kv")) Same("attention.head_count_kv", model.KvHeads, "KvHeads");
        if (_metadata.ContainsKey($"{Architecture}.context_length") && Int($"{Architecture}.context_length") < model.MaxSequenceLength)
            wrong.Add($"{Architecture}.context_length = {Int($"{Architecture}.context_length")}, shorter than the declaration's MaxSequenceLength = {model.MaxSequenceLength} (a shorter MaxSequenceLength is fine)");
        void Close(string key, float declared, string property)
        {
            if (declared <= 0 || !_metadata.TryGetValue($"{Architecture}.{key}", out object? v) || v is not double found) return;
            if (Math.Abs(found - declared) > 1e-6 * Math.Max(1, Math.Abs(declared)))
                wrong.Add(string.Create(CultureInfo.InvariantCulture, $"{Architecture}.{key} = {found} where the declaration has {property} = {declared}"));
        }
        Close("rope.freq_base", model.RopeTheta, "RopeTheta");
        Close("attention.layer_norm_rms_epsilon", model.NormEpsilon, "NormEpsilon");
        if (wrong.Count > 0)
            throw new ModelLoadException(FilePath, null, $"the GGUF metadata does not match {model.ClassName}: {string.Join("; ", wrong)}.");
    }

    /// <inheritdoc/>
    public override bool Contains(string name) => _byName.ContainsKey(name);

    /// <inheritdoc/>
    protected override long[]? FindShape(string name) => _byName.TryGetValue(name, out var t) ? t.Tensor.Shape : null;

    /// <inheritdoc/>
    protected internal override void ReadElementsCore(string name, long first, Span<float> destination)
    {
        (Tensor t, int permuteHeads) = _byName[name];
        if (permuteHeads == 0)
        {
            ReadRaw(t, first, destination);
            return;
        }
        ReadInterleavedRope(t.Shape, permuteHeads, first, destination, (at, into) => ReadRaw(t, at, into));
    }

    /// <inheritdoc/>
    protected override bool IsAlias(string name, string other) =>
        _byName.TryGetValue(name, out var a) && _byName.TryGetValue(other, out var b) && ReferenceEquals(a.Tensor, b.Tensor);

    /// <inheritdoc/>
    protected override GgmlType? StoredBlockType(string name) => _byName.TryGetValue(name, out var t) ? t.Tensor.Type : null;

    /// <summary>Rows of the tensor's blocks as they are, a run at a time; the llama architecture's q and k rows permuted back, whole.</summary>
    protected override void ReadStoredRows(string name, int first, int count, Span<byte> destination)
    {
        (Tensor t, int permuteHeads) = _byName[name];
        int rows = t.Dims.Length > 1 ? (int)t.Dims[1] : 1, rowBytes = GgmlQuants.RowBytes(t.Type, (int)t.Dims[0]);
        if (permuteHeads == 0)
        {
            _file.ReadExactly(t.Offset + (long)first * rowBytes, destination[..checked(count * rowBytes)], t.Name, "its data");
            return;
        }
        for (int r = 0; r < count; r++)
        {
            int source = InterleavedSourceRow(first + r, rows / permuteHeads);
            _file.ReadExactly(t.Offset + (long)source * rowBytes, destination.Slice(r * rowBytes, rowBytes), t.Name, "its data");
        }
    }

    /// <summary>Elements [first, first + destination.Length) in the file's order, dequantised block by block.</summary>
    private void ReadRaw(Tensor t, long first, Span<float> destination)
    {
        (int block, int blockBytes) = BlockOf(t.Type);
        if (t.Type == GgmlType.F32)
        {
            _file.ReadExactly(t.Offset + 4 * first, MemoryMarshal.AsBytes(destination), t.Name, "its data");
            return;
        }
        long firstBlock = first / block, lastBlock = (first + destination.Length + block - 1) / block;
        const int BlocksPerRead = 256;
        var bytes = new byte[BlocksPerRead * blockBytes];
        Span<float> values = stackalloc float[256];
        int written = 0;
        for (long b = firstBlock; b < lastBlock; b += BlocksPerRead)
        {
            int count = (int)Math.Min(BlocksPerRead, lastBlock - b);
            Span<byte> chunk = bytes.AsSpan(0, count * blockBytes);
            _file.ReadExactly(t.Offset + b * blockBytes, chunk, t.Name, "its data");
            for (int k = 0; k < count; k++)
            {
                Span<float> blockValues = values[..block];
                GgmlQuants.Dequantize(t.Type, chunk.Slice(k * blockBytes, blockBytes), blockValues);
                long blockStart = (b + k) * block;
                int from = (int)Math.Max(0, first - blockStart);
                int take = (int)Math.Min(block - from, destination.Length - written);
                blockValues.Slice(from, take).CopyTo(destination[written..]);
                written += take;
            }
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _file.Dispose();
    }
}
