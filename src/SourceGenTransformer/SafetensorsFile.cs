using System;
using System.Collections.Generic;
using System.IO;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer;

/// <summary>The element types a safetensors file may hold that this library reads.</summary>
public enum TensorDType
{
    /// <summary>IEEE 754 binary32.</summary>
    F32,

    /// <summary>IEEE 754 binary16.</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a binary32.</summary>
    BF16,
}

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions, outermost first.</param>
/// <param name="Offset">Byte offset of the data from the start of the data section.</param>
/// <param name="ByteLength">Byte length of the data.</param>
public sealed record TensorInfo(string Name, TensorDType DType, long[] Shape, long Offset, long ByteLength)
{
    /// <summary>The number of elements (the product of the shape).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>The shape written as <c>[a, b]</c>.</summary>
    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }
}

/// <summary>
/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors): an 8-byte
/// little-endian header length, a JSON header, then the tensors' bytes.
/// </summary>
/// <remarks>
/// The header is validated as the format specifies before any tensor is read: its length is
/// capped, every entry has a known dtype and non-negative shape, its byte count equals
/// dtype size × element count, offsets lie inside the data section, and the tensors neither
/// overlap nor leave holes. Every failure is a <see cref="ModelLoadException"/> naming the file
/// and, where one is at fault, the tensor.
/// </remarks>
public sealed unsafe class SafetensorsFile : ITensorSource
{
    /// <summary>The largest header accepted (100 MB, the reference implementation's cap).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MappedFile _file;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, TensorInfo> _tensors;
    private bool _disposed;

    private SafetensorsFile(string path, MappedFile file, long dataStart, Dictionary<string, TensorInfo> tensors, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _file = file;
        _base = file.Pointer;
        _dataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The path the file was opened from.</summary>
    public string FilePath { get; }

    /// <summary>The <c>__metadata__</c> string map of the header (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor in the file, by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    /// <summary>Opens and validates a safetensors file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelLoadException">The file is not a valid safetensors file.</exception>
    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new FileNotFoundException($"Weight file not found: {path}", path);
        long fileLength = info.Length;
        if (fileLength < 8)
            throw new ModelLoadException(path, null, $"the file is {fileLength} bytes, too short to be a safetensors file (it needs at least the 8-byte header length).");

        MappedFile file = MappedFile.Open(path, fileLength);
        try
        {
            byte* ptr = file.Pointer;
            ulong headerLength = BitConverter.IsLittleEndian ? *(ulong*)ptr : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(*(ulong*)ptr);
            if (headerLength > MaxHeaderBytes)
                throw new ModelLoadException(path, null, $"the header length field says {headerLength} bytes, more than the {MaxHeaderBytes}-byte cap; this is not a safetensors file or it is corrupt.");
            if ((long)headerLength > fileLength - 8)
                throw new ModelLoadException(path, null, $"the header length field says {headerLength} bytes but only {fileLength - 8} bytes follow it; the file is truncated or not a safetensors file.");

            long dataStart = 8 + (long)headerLength;
            long dataLength = fileLength - dataStart;
            var header = new ReadOnlySpan<byte>(ptr + 8, (int)headerLength);
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafetensorsFile(path, file, dataStart, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, TensorInfo>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, null, $"the header is not valid JSON ({e.Message}).", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(path, null, $"the header must be a JSON object, found {doc.RootElement.ValueKind}.");

            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    if (entry.Value.ValueKind != JsonValueKind.Object)
                        throw new ModelLoadException(path, null, "'__metadata__' must be an object of strings.");
                    foreach (JsonProperty m in entry.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new ModelLoadException(path, null, $"'__metadata__.{m.Name}' must be a string, found {m.Value.ValueKind}.");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }

                TensorInfo tensor = ParseEntry(path, entry);
                if (!tensors.TryAdd(tensor.Name, tensor))
                    throw new ModelLoadException(path, tensor.Name, "the header names this tensor twice.");
                if (tensor.Offset + tensor.ByteLength > dataLength)
                    throw new ModelLoadException(path, tensor.Name,
                        $"data_offsets [{tensor.Offset}, {tensor.Offset + tensor.ByteLength}] run past the end of the data section ({dataLength} bytes); the file is truncated.");
            }

            // The format forbids overlapping tensors and holes between them.
            var ordered = new List<TensorInfo>(tensors.Values);
            ordered.Sort(static (a, b) => a.Offset.CompareTo(b.Offset));
            long expectedStart = 0;
            foreach (TensorInfo t in ordered)
            {
                if (t.Offset < expectedStart)
                    throw new ModelLoadException(path, t.Name, $"its data [{t.Offset}, {t.Offset + t.ByteLength}] overlaps the previous tensor's, which ends at {expectedStart}.");
                if (t.Offset > expectedStart)
                    throw new ModelLoadException(path, t.Name, $"its data starts at {t.Offset} but the previous tensor ends at {expectedStart}; the format allows no holes.");
                expectedStart = t.Offset + t.ByteLength;
            }
            return (tensors, metadata);
        }
    }

    private static TensorInfo ParseEntry(string path, JsonProperty entry)
    {
        string name = entry.Name;
        JsonElement e = entry.Value;
        if (e.ValueKind != JsonValueKind.Object)
            throw new ModelLoadException(path, name, $"its header entry must be an object, found {e.ValueKind}.");
        if (!e.TryGetProperty("dtype", out JsonElement dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new ModelLoadException(path, name, "its header entry has no string 'dtype'.");
        if (!e.TryGetProperty("shape", out JsonElement shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new ModelLoadException(path, name, "its header entry has no 'shape' array.");
        if (!e.TryGetProperty("data_offsets", out JsonElement offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new ModelLoadException(path, name, "its header entry has no 'data_offsets' pair [begin, end].");

        string dtypeText = dtypeEl.GetString()!;
        TensorDType dtype;
        int elementSize;
        switch (dtypeText)
        {
            case "F32": dtype = TensorDType.F32; elementSize = 4; break;
            case "F16": dtype = TensorDType.F16; elementSize = 2; break;
            case "BF16": dtype = TensorDType.BF16; elementSize = 2; break;
            default:
                throw new ModelLoadException(path, name, $"dtype '{dtypeText}' is not supported; F32, F16 and BF16 are.");
        }

        var shape = new long[shapeEl.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (JsonElement d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new ModelLoadException(path, name, $"shape entry {i} is not a non-negative integer ({d.GetRawText()}).");
            shape[i++] = dim;
            count = dim == 0 ? 0 : (count > long.MaxValue / dim ? throw new ModelLoadException(path, name, "its shape's element count overflows.") : count * dim);
        }

        if (!offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new ModelLoadException(path, name, $"data_offsets {offEl.GetRawText()} are not a pair 0 <= begin <= end.");
        if (count > long.MaxValue / elementSize || end - begin != count * elementSize)
            throw new ModelLoadException(path, name,
                $"data_offsets [{begin}, {end}] hold {end - begin} bytes but dtype {dtypeText} with shape {TensorInfo.FormatShape(shape)} needs {count * elementSize}.");
        return new TensorInfo(name, dtype, shape, begin, end - begin);
    }

    /// <summary>Whether the file holds a tensor of this name.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Looks up a tensor, or throws naming the file and the missing tensor.</summary>
    public TensorInfo GetTensor(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_tensors.TryGetValue(name, out TensorInfo? t)) return t;
        throw new ModelLoadException(FilePath, name, $"the file has no such tensor ({_tensors.Count} tensors present{Nearby(name)}).");
    }

    private string Nearby(string name)
    {
        // Point at the likely cause (another family's names, a missing prefix) by showing a
        // present tensor that ends like the missing one, else any present tensor.
        int dot = name.LastIndexOf('.');
        int previousDot = dot > 0 ? name.LastIndexOf('.', dot - 1) : -1;
        string tail = name.Substring(previousDot + 1);
        string? example = null;
        foreach (string key in _tensors.Keys)
        {
            if (key.EndsWith(tail, StringComparison.Ordinal)) return $"; a similar one is '{key}'";
            example ??= key;
        }
        return example is null ? "" : $"; for example '{example}'";
    }

    /// <summary>The raw bytes of a tensor, straight from the mapping.</summary>
    public ReadOnlySpan<byte> GetBytes(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tensor.ByteLength > int.MaxValue)
            throw new ModelLoadException(FilePath, tensor.Name, $"it is {tensor.ByteLength} bytes; tensors over 2 GiB are not supported.");
        return new ReadOnlySpan<byte>(_base + _dataStart + tensor.Offset, (int)tensor.ByteLength);
    }

    /// <summary>
    /// Reads a tensor whose shape must equal <paramref name="expectedShape"/>, widening F16 and
    /// BF16 to float32, into <paramref name="destination"/> (row-major).
    /// </summary>
    public void ReadInto(string name, ReadOnlySpan<long> expectedShape, Span<float> destination)
    {
        TensorInfo t = GetTensor(name);
        RequireShape(t, expectedShape);
        Widen(t, GetBytes(t), destination);
    }

    /// <summary>
    /// Reads the first <paramref name="rows"/> rows of a 2-D tensor of <paramref name="cols"/>
    /// columns that has at least that many rows (a position table longer than needed).
    /// </summary>
    /// <remarks>A shape <c>[rows, 1, cols]</c> is accepted too: PyTorch's translation tutorial stores its position table so.</remarks>
    public void ReadLeadingRowsInto(string name, long rows, long cols, Span<float> destination)
    {
        TensorInfo t = GetTensor(name);
        bool shapeFits = t.Shape.Length switch
        {
            2 => t.Shape[1] == cols,
            3 => t.Shape[1] == 1 && t.Shape[2] == cols,
            _ => false,
        };
        if (!shapeFits || t.Shape[0] < rows)
            throw new ModelLoadException(FilePath, name,
                $"expected shape [>= {rows}, {cols}] (at least {rows} rows of {cols}), found {t.ShapeText}.");
        int elementSize = t.DType == TensorDType.F32 ? 4 : 2;
        Widen(t, GetBytes(t).Slice(0, checked((int)(rows * cols * elementSize))), destination);
    }

    /// <summary>
    /// Reads a 2-D tensor stored as <c>[cols, rows]</c> (GPT-2's Conv1D layout, <c>[in, out]</c>) and
    /// writes it transposed as <c>[rows, cols]</c> (<c>[out, in]</c>) into <paramref name="destination"/>.
    /// </summary>
    public void ReadTransposedInto(string name, int rows, int cols, Span<float> destination)
    {
        TensorInfo t = GetTensor(name);
        RequireShape(t, [cols, rows]);
        float[] scratch = new float[checked(rows * cols)];
        Widen(t, GetBytes(t), scratch);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                destination[r * cols + c] = scratch[c * rows + r];
    }

    private void RequireShape(TensorInfo t, ReadOnlySpan<long> expected)
    {
        if (!expected.SequenceEqual(t.Shape))
            throw new ModelLoadException(FilePath, t.Name,
                $"expected shape {TensorInfo.FormatShape(expected)} from the declaration, found {t.ShapeText}.");
    }

    private void Widen(TensorInfo t, ReadOnlySpan<byte> bytes, Span<float> destination)
    {
        int count = bytes.Length / (t.DType == TensorDType.F32 ? 4 : 2);
        if (destination.Length < count)
            throw new ArgumentException($"Destination holds {destination.Length} floats but tensor '{t.Name}' has {count}.", nameof(destination));
        destination = destination.Slice(0, count);
        switch (t.DType)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), destination);
                break;
            case TensorDType.BF16:
                // bfloat16 is the upper half of a binary32: widening is a 16-bit shift.
                ReadOnlySpan<ushort> src = MemoryMarshal.Cast<byte, ushort>(bytes);
                Span<uint> dst = MemoryMarshal.Cast<float, uint>(destination);
                for (int i = 0; i < src.Length; i++) dst[i] = (uint)src[i] << 16;
                break;
        }
    }

    /// <summary>Releases the mapping.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }
}
