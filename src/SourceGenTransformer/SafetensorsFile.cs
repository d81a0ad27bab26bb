using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace SourceGenTransformer;

/// <summary>
/// The element types of the safetensors format. F32, F16 and BF16 load as weights; the others are known so that a file
/// holding them (an int64 position-id buffer, say) is laid out and checked, and a read of one says what it is.
/// </summary>
public enum TensorDType
{
    /// <summary>IEEE 754 binary32.</summary>
    F32,

    /// <summary>IEEE 754 binary16.</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a binary32.</summary>
    BF16,

    /// <summary>IEEE 754 binary64 (not loadable as weights).</summary>
    F64,

    /// <summary>Booleans, one byte each (not loadable as weights).</summary>
    BOOL,

    /// <summary>Unsigned 8-bit integers (not loadable as weights).</summary>
    U8,

    /// <summary>Signed 8-bit integers (not loadable as weights).</summary>
    I8,

    /// <summary>8-bit floats, 5 exponent bits (not loadable as weights).</summary>
    F8_E5M2,

    /// <summary>8-bit floats, 4 exponent bits (not loadable as weights).</summary>
    F8_E4M3,

    /// <summary>Signed 16-bit integers (not loadable as weights).</summary>
    I16,

    /// <summary>Unsigned 16-bit integers (not loadable as weights).</summary>
    U16,

    /// <summary>Signed 32-bit integers (not loadable as weights).</summary>
    I32,

    /// <summary>Unsigned 32-bit integers (not loadable as weights).</summary>
    U32,

    /// <summary>Signed 64-bit integers (not loadable as weights).</summary>
    I64,

    /// <summary>Unsigned 64-bit integers (not loadable as weights).</summary>
    U64,
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
/// A safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
/// header, then the tensors' bytes. Opened for explicit reads: nothing is mapped, and every tensor is read into memory
/// the model owns.
/// </summary>
/// <remarks>
/// The header is checked as the reference implementation checks it, before any tensor is read: its length is capped
/// and lies inside the file; it is valid UTF-8 JSON, an object whose first byte is '{', followed only by the spaces the
/// writer pads with; every entry has a known string dtype, a shape of non-negative integers and a pair of non-negative
/// integer data_offsets, and no field twice; the byte count equals dtype size × element count; and the tensors, ordered
/// by offsets, tile the data section exactly, from 0 to the end of the file (zero-size tensors anywhere). Every failure
/// is a <see cref="ModelLoadException"/> naming the file and, where one is at fault, the tensor.
/// </remarks>
public sealed class SafetensorsFile : TensorSource
{
    /// <summary>The largest header accepted (100 MB, the reference implementation's cap).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly WeightFileReader _file;
    private readonly Dictionary<string, TensorInfo> _tensors;

    private SafetensorsFile(WeightFileReader file, long dataStart, Dictionary<string, TensorInfo> tensors, Dictionary<string, string> metadata, bool checkFinite)
        : base(file.FilePath, checkFinite)
    {
        _file = file;
        DataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The <c>__metadata__</c> string map of the header (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor in the file, by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    /// <summary>Where the data section starts: 8 + the header's length.</summary>
    public long DataStart { get; }

    /// <inheritdoc/>
    public override IEnumerable<string> TensorNames => _tensors.Keys;

    /// <summary>Opens and validates a safetensors file (following symbolic links).</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Loading options (<see cref="ModelOptions.CheckFiniteWeights"/>); null for the defaults.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelLoadException">The file is not a valid safetensors file.</exception>
    public static SafetensorsFile Open(string path, ModelOptions? options = null)
        => WeightFileReader.OpenWith(path, file => Open(file, options));

    internal static SafetensorsFile Open(WeightFileReader file, ModelOptions? options)
    {
        string path = file.FilePath;
        long fileLength = file.Length;
        if (fileLength < 8)
            throw new ModelLoadException(path, null, $"the file is {fileLength} bytes, too short to be a safetensors file (it needs at least the 8-byte header length).");
        Span<byte> lengthField = stackalloc byte[8];
        file.ReadExactly(0, lengthField, null, "the header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        if (headerLength > MaxHeaderBytes)
            throw new ModelLoadException(path, null, $"the header length field says {headerLength} bytes, more than the {MaxHeaderBytes}-byte cap; this is not a safetensors file or it is corrupt.");
        if ((long)headerLength > fileLength - 8)
            throw new ModelLoadException(path, null, $"the header length field says {headerLength} bytes but only {fileLength - 8} bytes follow it; the file is truncated or not a safetensors file.");

        var header = new byte[headerLength];
        file.ReadExactly(8, header, null, "the header");
        long dataStart = 8 + (long)headerLength;
        var (tensors, metadata) = ParseHeader(path, header);
        Validate(path, tensors, fileLength - dataStart, (long)headerLength);
        return new SafetensorsFile(file, dataStart, tensors, metadata, options?.CheckFiniteWeights ?? true);
    }

    // ---------------------------------------------------------------- the header

    private static (Dictionary<string, TensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte[] header)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
            throw new ModelLoadException(path, null, header.Length == 0
                ? "the header is empty; it must be a JSON object."
                : $"the header must be a JSON object starting with '{{', but its first byte is 0x{header[0]:X2}.");
        if (!Utf8.IsValid(header))
            throw new ModelLoadException(path, null, $"the header is not valid UTF-8 (at byte {8 + InvalidUtf8At(header)} of the file).");

        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            reader.Read(); // the '{' checked above
            while (true)
            {
                Next(ref reader, path, null, "the header");
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string name = Text(ref reader, path, null);
                if (tensors.ContainsKey(name) || (name == "__metadata__" && metadata.Count > 0))
                    throw new ModelLoadException(path, name, "the header names this entry twice.");
                Next(ref reader, path, name, "its entry");
                if (name == "__metadata__")
                {
                    ParseMetadata(ref reader, path, metadata);
                    continue;
                }
                tensors.Add(name, ParseEntry(ref reader, path, name));
            }
        }
        catch (JsonException e)
        {
            throw new ModelLoadException(path, null, $"the header is not valid JSON ({e.Message}).", e);
        }

        // After the object, only the spaces the writer pads the header with (to a multiple of 8 bytes).
        for (long i = reader.BytesConsumed; i < header.Length; i++)
        {
            if (header[i] != (byte)' ')
                throw new ModelLoadException(path, null,
                    $"byte {8 + i} of the file, after the header's JSON object, is 0x{header[i]:X2}; only space padding may follow the object (is the header length field right?).");
        }
        return (tensors, metadata);
    }

    private static int InvalidUtf8At(ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes.Slice(i), out _, out int consumed) != OperationStatus.Done) return i;
            i += consumed;
        }
        return bytes.Length;
    }

    private static void Next(ref Utf8JsonReader reader, string path, string? tensor, string what)
    {
        if (!reader.Read())
            throw new ModelLoadException(path, tensor, $"the header ends inside {what}; it is truncated JSON.");
    }

    /// <summary>The current property name or string, with lone surrogate escapes reported (they are not text).</summary>
    private static string Text(ref Utf8JsonReader reader, string path, string? tensor)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new ModelLoadException(path, tensor, $"the header holds a string that is not valid text ({e.Message}); an escape such as \\ud800 names half a character.", e);
        }
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, string path, Dictionary<string, string> metadata)
    {
        if (reader.TokenType == JsonTokenType.Null) return;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new ModelLoadException(path, null, $"'__metadata__' must be an object of strings, found {reader.TokenType}.");
        while (true)
        {
            Next(ref reader, path, null, "'__metadata__'");
            if (reader.TokenType == JsonTokenType.EndObject) return;
            string key = Text(ref reader, path, null);
            Next(ref reader, path, null, "'__metadata__'");
            if (reader.TokenType != JsonTokenType.String)
                throw new ModelLoadException(path, null, $"'__metadata__.{key}' must be a string, found {reader.TokenType}.");
            if (!metadata.TryAdd(key, Text(ref reader, path, null)))
                throw new ModelLoadException(path, null, $"'__metadata__' names '{key}' twice.");
        }
    }

    private static TensorInfo ParseEntry(ref Utf8JsonReader reader, string path, string name)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new ModelLoadException(path, name, $"its header entry must be an object, found {reader.TokenType}.");
        string? dtypeText = null;
        long[]? shape = null;
        long[]? offsets = null;
        while (true)
        {
            Next(ref reader, path, name, "its entry");
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string field = Text(ref reader, path, name);
            Next(ref reader, path, name, "its entry");
            switch (field)
            {
                case "dtype":
                    if (dtypeText is not null) throw new ModelLoadException(path, name, "its header entry gives 'dtype' twice.");
                    if (reader.TokenType != JsonTokenType.String)
                        throw new ModelLoadException(path, name, $"its 'dtype' must be a string, found {reader.TokenType}.");
                    dtypeText = Text(ref reader, path, name);
                    break;
                case "shape":
                    if (shape is not null) throw new ModelLoadException(path, name, "its header entry gives 'shape' twice.");
                    shape = Integers(ref reader, path, name, "shape");
                    break;
                case "data_offsets":
                    if (offsets is not null) throw new ModelLoadException(path, name, "its header entry gives 'data_offsets' twice.");
                    offsets = Integers(ref reader, path, name, "data_offsets");
                    if (offsets.Length != 2)
                        throw new ModelLoadException(path, name, $"its 'data_offsets' must be a pair [begin, end], found {offsets.Length} numbers.");
                    break;
                default:
                    reader.Skip(); // unknown fields are ignored, as the reference reader ignores them
                    break;
            }
        }
        if (dtypeText is null) throw new ModelLoadException(path, name, "its header entry has no 'dtype'.");
        if (shape is null) throw new ModelLoadException(path, name, "its header entry has no 'shape'.");
        if (offsets is null) throw new ModelLoadException(path, name, "its header entry has no 'data_offsets'.");
        TensorDType dtype = ParseDType(dtypeText) ?? throw new ModelLoadException(path, name,
            $"dtype '{dtypeText}' is not a safetensors dtype this reader knows (F32, F16 and BF16 load as weights).");

        long count = 1;
        foreach (long d in shape)
        {
            if (d != 0 && count > long.MaxValue / d)
                throw new ModelLoadException(path, name, $"its shape {TensorInfo.FormatShape(shape)} has more elements than a file can hold.");
            count *= d;
        }
        int size = ElementSize(dtype);
        (long begin, long end) = (offsets[0], offsets[1]);
        if (end < begin)
            throw new ModelLoadException(path, name, $"data_offsets [{begin}, {end}] end before they begin.");
        if (count > long.MaxValue / size || end - begin != count * size)
            throw new ModelLoadException(path, name,
                $"data_offsets [{begin}, {end}] hold {end - begin} bytes but dtype {dtype} with shape {TensorInfo.FormatShape(shape)} needs {(count > long.MaxValue / size ? "more than a file can hold" : (count * size).ToString(System.Globalization.CultureInfo.InvariantCulture))}.");
        return new TensorInfo(name, dtype, shape, begin, end - begin);
    }

    private static long[] Integers(ref Utf8JsonReader reader, string path, string name, string field)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new ModelLoadException(path, name, $"its '{field}' must be an array of integers, found {reader.TokenType}.");
        var values = new List<long>();
        while (true)
        {
            Next(ref reader, path, name, $"its '{field}'");
            if (reader.TokenType == JsonTokenType.EndArray) return values.ToArray();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0)
                throw new ModelLoadException(path, name,
                    $"its '{field}' entry {values.Count} is not a non-negative integer ({(reader.TokenType == JsonTokenType.Number ? Encoding.UTF8.GetString(reader.ValueSpan) : reader.TokenType.ToString())}).");
            values.Add(v);
        }
    }

    private static TensorDType? ParseDType(string text) => text switch
    {
        "F32" => TensorDType.F32,
        "F16" => TensorDType.F16,
        "BF16" => TensorDType.BF16,
        "F64" => TensorDType.F64,
        "BOOL" => TensorDType.BOOL,
        "U8" => TensorDType.U8,
        "I8" => TensorDType.I8,
        "F8_E5M2" => TensorDType.F8_E5M2,
        "F8_E4M3" => TensorDType.F8_E4M3,
        "I16" => TensorDType.I16,
        "U16" => TensorDType.U16,
        "I32" => TensorDType.I32,
        "U32" => TensorDType.U32,
        "I64" => TensorDType.I64,
        "U64" => TensorDType.U64,
        _ => null,
    };

    /// <summary>Bytes per element of a dtype.</summary>
    public static int ElementSize(TensorDType dtype) => dtype switch
    {
        TensorDType.BOOL or TensorDType.U8 or TensorDType.I8 or TensorDType.F8_E5M2 or TensorDType.F8_E4M3 => 1,
        TensorDType.F16 or TensorDType.BF16 or TensorDType.I16 or TensorDType.U16 => 2,
        TensorDType.F32 or TensorDType.I32 or TensorDType.U32 => 4,
        _ => 8,
    };

    /// <summary>
    /// The tensors, ordered by (begin, end) as the reference orders them, must tile the data section: each begins where
    /// the previous ends, and the last ends at the end of the file. A zero-size tensor may sit anywhere in the order.
    /// </summary>
    private static void Validate(string path, Dictionary<string, TensorInfo> tensors, long dataLength, long headerLength)
    {
        var ordered = new List<TensorInfo>(tensors.Values);
        ordered.Sort(static (a, b) => a.Offset != b.Offset ? a.Offset.CompareTo(b.Offset) : a.ByteLength.CompareTo(b.ByteLength));
        long expected = 0;
        foreach (TensorInfo t in ordered)
        {
            if (t.Offset < expected)
                throw new ModelLoadException(path, t.Name, $"its data [{t.Offset}, {t.Offset + t.ByteLength}] overlaps the previous tensor's, which ends at {expected}.");
            if (t.Offset > expected)
                throw new ModelLoadException(path, t.Name, $"its data starts at {t.Offset} but the previous tensor ends at {expected}; the format allows no holes.");
            expected = t.Offset + t.ByteLength;
            if (expected > dataLength)
                throw new ModelLoadException(path, t.Name,
                    $"data_offsets [{t.Offset}, {expected}] run past the end of the data section ({dataLength} bytes); the file is truncated.");
        }
        if (expected != dataLength)
            throw new ModelLoadException(path, null,
                $"the tensors end at byte {expected} of the data section, but it holds {dataLength} bytes (after a {headerLength}-byte header): " +
                "the header length field is wrong, or bytes were appended to the file.");
    }

    // ---------------------------------------------------------------- tensors

    /// <summary>Looks up a tensor, or throws naming the file, the missing tensor and a present one it may have meant.</summary>
    public TensorInfo GetTensor(string name)
    {
        if (_tensors.TryGetValue(name, out TensorInfo? t)) return t;
        GetShape(name); // throws the missing-tensor error
        throw new UnreachableException();
    }

    /// <inheritdoc/>
    public override bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc/>
    protected override long[]? FindShape(string name) => _tensors.TryGetValue(name, out TensorInfo? t) ? t.Shape : null;

    /// <inheritdoc/>
    protected internal override void ReadElementsCore(string name, long first, Span<float> destination)
    {
        TensorInfo t = _tensors[name];
        int size = ElementSize(t.DType);
        long at = DataStart + t.Offset + first * size;
        switch (t.DType)
        {
            case TensorDType.F32:
                _file.ReadExactly(at, MemoryMarshal.AsBytes(destination), name, "its data");
                break;
            case TensorDType.F16:
            case TensorDType.BF16:
                ReadWidened(_file, at, t.DType, name, destination);
                break;
            default:
                throw new ModelLoadException(FilePath, name, $"its dtype {t.DType} cannot be read as weights; F32, F16 and BF16 can.");
        }
    }

    /// <summary>
    /// Reads destination.Length 16-bit values (F16 or BF16) at <paramref name="at"/> through a small buffer, widened into
    /// the destination a piece at a time.
    /// </summary>
    internal static void ReadWidened(WeightFileReader file, long at, TensorDType dtype, string name, Span<float> destination)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            for (int i = 0; i < destination.Length;)
            {
                int n = Math.Min(buffer.Length / 2, destination.Length - i);
                Span<byte> bytes = buffer.AsSpan(0, 2 * n);
                file.ReadExactly(at + 2L * i, bytes, name, "its data");
                Widen(dtype, MemoryMarshal.Cast<byte, ushort>(bytes), destination.Slice(i, n));
                i += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Widen(TensorDType dtype, ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (dtype == TensorDType.F16)
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
            return;
        }
        // bfloat16 is the upper half of a binary32: widening is a 16-bit shift.
        Span<uint> bits = MemoryMarshal.Cast<float, uint>(destination);
        for (int i = 0; i < source.Length; i++) bits[i] = (uint)source[i] << 16;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _file.Dispose();
    }
}
