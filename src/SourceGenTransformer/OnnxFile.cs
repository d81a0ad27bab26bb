using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace SourceGenTransformer;

/// <summary>
/// The weights of an ONNX model (https://onnx.ai, <c>onnx.proto</c>) as the exporters of transformers and
/// sentence-transformers write them: the graph's floating-point initializers, by their Hugging Face names. Opened for
/// explicit reads like <see cref="SafetensorsFile"/>: nothing is mapped, and the protobuf is parsed here, field by
/// field, with no generated code, no reflection and no native library.
/// </summary>
/// <remarks>
/// <para>
/// Names: an initializer the exporter kept named (<c>embeddings.word_embeddings.weight</c>) keeps its name. A weight
/// that torch.onnx folded into an anonymous initializer (<c>onnx::MatMul_788</c>, <c>927</c>) as input B of a MatMul
/// takes its name from the bias that the Add after the MatMul consumes (<c>....query.bias</c> gives
/// <c>....query.weight</c>). A MatMul's B is stored <c>[in, out]</c>; it is presented as <c>[out, in]</c>, as
/// nn.Linear stores it, and transposed as it is read. Integer initializers (shape constants, position-id buffers) are
/// the graph's plumbing, not weights, and are not listed.
/// </para>
/// <para>
/// Checks, before any tensor is read: every tag, varint and length is well formed and stays inside its message and
/// the file; strings are valid UTF-8; an initializer has a name, non-negative dimensions, a known type, and exactly
/// the bytes its shape needs, in one of raw_data or packed float_data; no two have one name; data kept outside the
/// file (external data) and sparse initializers are refused. Every failure is a <see cref="ModelLoadException"/>
/// naming the file, the tensor where one is at fault, and the byte offset.
/// </para>
/// </remarks>
public sealed class OnnxFile : TensorSource
{
    /// <summary>ONNX TensorProto.DataType values this reader knows.</summary>
    private enum DataType
    {
        Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
        Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, Complex64 = 14, Complex128 = 15, BFloat16 = 16,
    }

    /// <summary>An initializer: where its bytes are, and how it is presented.</summary>
    private sealed class Entry(string stored, DataType type, long[] dims, long offset, long byteLength)
    {
        public string StoredName { get; } = stored;
        public DataType Type { get; } = type;
        public long[] Dims { get; } = dims;
        public long Offset { get; } = offset;
        public long ByteLength { get; } = byteLength;

        /// <summary>Input B of a MatMul: stored [in, out], presented [out, in].</summary>
        public bool Transposed { get; set; }

        public long[] Shape => Transposed ? [Dims[1], Dims[0]] : Dims;
    }

    private readonly WeightFileReader _file;
    private readonly Dictionary<string, Entry> _tensors;
    private string? _cachedName;
    private float[] _cached = [];

    private OnnxFile(WeightFileReader file, bool checkFinite, Dictionary<string, Entry> tensors, long irVersion, string producer)
        : base(file.FilePath, checkFinite)
    {
        _file = file;
        _tensors = tensors;
        IrVersion = irVersion;
        Producer = producer;
    }

    /// <summary>The model's ONNX IR version (ModelProto.ir_version).</summary>
    public long IrVersion { get; }

    /// <summary>The producer and its version (ModelProto.producer_name, producer_version), e.g. "pytorch 1.10".</summary>
    public string Producer { get; }

    /// <summary>The presented names of the tensors and the initializers they come from (the same unless renamed).</summary>
    public IEnumerable<KeyValuePair<string, string>> StoredNames
    {
        get
        {
            foreach (KeyValuePair<string, Entry> e in _tensors) yield return new(e.Key, e.Value.StoredName);
        }
    }

    /// <inheritdoc/>
    public override IEnumerable<string> TensorNames => _tensors.Keys;

    /// <inheritdoc/>
    public override bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc/>
    protected override long[]? FindShape(string name) => _tensors.TryGetValue(name, out Entry? e) ? e.Shape : null;

    /// <summary>Opens and checks an ONNX file; no tensor is read until asked for.</summary>
    /// <exception cref="System.IO.FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelLoadException">The file is not a well-formed ONNX model.</exception>
    public static OnnxFile Open(string path, ModelOptions? options = null)
        => WeightFileReader.OpenWith(path, file => Open(file, options));

    /// <summary>Whether the first bytes look like a ModelProto: ir_version (field 1, a varint) first, then another known field.</summary>
    internal static bool LooksLikeOnnx(ReadOnlySpan<byte> head) =>
        head.Length >= 3 && head[0] == 0x08 && head[1] is > 0 and < 0x80
        && head[2] is 0x12 or 0x1A or 0x22 or 0x28 or 0x32 or 0x3A or 0x42 or 0x72;

    internal static OnnxFile Open(WeightFileReader file, ModelOptions? options)
    {
        var r = new ProtoReader(file);
        long irVersion = -1;
        string producer = "", producerVersion = "";
        var graph = new Graph();
        bool sawGraph = false;
        // ModelProto
        while (r.Position < file.Length)
        {
            (int field, int wire) = r.ReadTag(file.Length, "the model");
            switch (field)
            {
                case 1 when wire == 0: irVersion = (long)r.ReadVarint(file.Length, "ir_version"); break;
                case 2 when wire == 2: producer = r.ReadString(file.Length, "producer_name"); break;
                case 3 when wire == 2: producerVersion = r.ReadString(file.Length, "producer_version"); break;
                case 7 when wire == 2:
                    if (sawGraph) throw r.Malformed("the model holds two graphs");
                    sawGraph = true;
                    ReadGraph(r, r.ReadLength(file.Length, "graph"), graph);
                    break;
                case 1 or 2 or 3 or 7: throw r.WrongWire(field, wire, "ModelProto");
                default: r.Skip(wire, file.Length, "the model"); break;
            }
        }
        if (!sawGraph || irVersion < 0)
            throw new ModelLoadException(file.FilePath, null,
                $"not an ONNX model: {(irVersion < 0 ? "it has no ir_version" : "it has no graph")} (a ModelProto starts with both).");
        var tensors = Present(file.FilePath, graph);
        string who = (producer + " " + producerVersion).Trim();
        return new OnnxFile(file, options?.CheckFiniteWeights ?? true, tensors, irVersion, who);
    }

    // ---------------------------------------------------------------- the graph

    private sealed class Graph
    {
        public readonly List<Entry> Initializers = [];
        public readonly List<(string Op, List<string> Inputs, List<string> Outputs)> Nodes = [];
    }

    private static void ReadGraph(ProtoReader r, long end, Graph graph)
    {
        while (r.Position < end)
        {
            (int field, int wire) = r.ReadTag(end, "the graph");
            switch (field)
            {
                case 1 when wire == 2: graph.Nodes.Add(ReadNode(r, r.ReadLength(end, "a node"), graph.Nodes.Count)); break;
                case 5 when wire == 2: graph.Initializers.Add(ReadTensor(r, r.ReadLength(end, "an initializer"), graph.Initializers.Count)); break;
                case 15 when wire == 2: throw r.Malformed("the graph holds a sparse initializer, which this reader does not load; export dense weights");
                case 1 or 5: throw r.WrongWire(field, wire, "GraphProto");
                default: r.Skip(wire, end, "the graph"); break;
            }
        }
    }

    private static (string, List<string>, List<string>) ReadNode(ProtoReader r, long end, int index)
    {
        string op = "";
        List<string> inputs = [], outputs = [];
        string where = $"node {index.ToString(CultureInfo.InvariantCulture)}";
        while (r.Position < end)
        {
            (int field, int wire) = r.ReadTag(end, where);
            switch (field)
            {
                case 1 when wire == 2: inputs.Add(r.ReadString(end, where + " input")); break;
                case 2 when wire == 2: outputs.Add(r.ReadString(end, where + " output")); break;
                case 4 when wire == 2: op = r.ReadString(end, where + " op_type"); break;
                case 1 or 2 or 4: throw r.WrongWire(field, wire, "NodeProto");
                default: r.Skip(wire, end, where); break;
            }
        }
        return (op, inputs, outputs);
    }

    private static Entry ReadTensor(ProtoReader r, long end, int index)
    {
        long start = r.Position;
        var dims = new List<long>();
        long type = 0, dataOffset = -1, dataLength = 0, location = 0;
        string? name = null;
        string where = $"initializer {index.ToString(CultureInfo.InvariantCulture)}";
        bool hasTypedData = false;
        while (r.Position < end)
        {
            (int field, int wire) = r.ReadTag(end, where);
            switch (field)
            {
                case 1 when wire == 0: dims.Add((long)r.ReadVarint(end, where + " dims")); break;
                case 1 when wire == 2:
                {
                    long packedEnd = r.ReadLength(end, where + " dims");
                    while (r.Position < packedEnd) dims.Add((long)r.ReadVarint(packedEnd, where + " dims"));
                    break;
                }
                case 2 when wire == 0: type = (long)r.ReadVarint(end, where + " data_type"); break;
                case 8 when wire == 2: name = r.ReadString(end, where + " name"); where = $"initializer '{name}'"; break;
                case 9 when wire == 2:
                case 4 when wire == 2:
                {
                    if (dataOffset >= 0) throw r.Malformed($"{where} holds its data twice");
                    long dataEnd = r.ReadLength(end, where + " data");
                    (dataOffset, dataLength) = (r.Position, dataEnd - r.Position);
                    r.SkipTo(dataEnd);
                    break;
                }
                case 4 when wire == 5: throw r.Malformed($"{where} stores float_data unpacked, which this reader does not load");
                case 3: throw r.Malformed($"{where} is a segment of a tensor split across initializers, which this reader does not load");
                case 5 or 6 or 7 or 10 or 11:
                    hasTypedData = true;
                    r.Skip(wire, end, where);
                    break;
                case 13: location = 1; r.Skip(wire, end, where); break;
                case 14 when wire == 0: location = (long)r.ReadVarint(end, where + " data_location"); break;
                case 1 or 2 or 4 or 8 or 9 or 14: throw r.WrongWire(field, wire, "TensorProto");
                default: r.Skip(wire, end, where); break;
            }
        }
        string path = r.FilePath;
        if (string.IsNullOrEmpty(name))
            throw new ModelLoadException(path, null, $"{where} (at byte {start}) has no name.");
        if (!Enum.IsDefined(typeof(DataType), (int)Math.Min(type, int.MaxValue)) || type == 0)
            throw new ModelLoadException(path, name, $"its data_type {type} is not an ONNX element type.");
        var dataType = (DataType)type;
        long elements = 1;
        foreach (long d in dims)
        {
            if (d < 0 || d > int.MaxValue)
                throw new ModelLoadException(path, name, $"dimension {d} is out of range (dims {TensorInfo.FormatShape(dims.ToArray())}).");
            elements = checked(elements * d);
            if (elements > long.MaxValue / 16) throw new ModelLoadException(path, name, $"dims {TensorInfo.FormatShape(dims.ToArray())} hold too many elements.");
        }
        bool weight = dataType is DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double;
        if (weight)
        {
            if (location == 1)
                throw new ModelLoadException(path, name,
                    "its data is kept outside the .onnx file (external data), which this reader does not load; export the model as one file.");
            long size = dataType switch { DataType.Float => 4, DataType.Double => 8, _ => 2 };
            if (dataOffset < 0)
            {
                if (elements == 0) dataOffset = r.Position;
                else throw new ModelLoadException(path, name,
                    hasTypedData ? $"its {dataType} data is not in raw_data (or packed float_data), which this reader needs." : "it holds no data.");
            }
            if (dataLength != elements * size)
                throw new ModelLoadException(path, name,
                    $"its shape {TensorInfo.FormatShape(dims.ToArray())} of {dataType} needs {elements * size} bytes, but its data holds {dataLength}.");
        }
        return new Entry(name, dataType, dims.ToArray(), dataOffset, dataLength);
    }

    /// <summary>The weights by their presented names: MatMul weights transposed, anonymous ones named after their bias.</summary>
    private static Dictionary<string, Entry> Present(string path, Graph graph)
    {
        var stored = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (Entry e in graph.Initializers)
            if (!stored.TryAdd(e.StoredName, e))
                throw new ModelLoadException(path, e.StoredName, "two initializers have this name.");

        // Which node consumes each value (for the Add after a MatMul).
        var consumers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int n = 0; n < graph.Nodes.Count; n++)
            foreach (string input in graph.Nodes[n].Inputs)
            {
                if (!consumers.TryGetValue(input, out List<int>? list)) consumers[input] = list = [];
                list.Add(n);
            }

        var names = new Dictionary<Entry, string>();
        foreach ((string op, List<string> inputs, List<string> outputs) in graph.Nodes)
        {
            if (op != "MatMul" || inputs.Count != 2 || !stored.TryGetValue(inputs[1], out Entry? b) || !IsWeight(b) || b.Dims.Length != 2) continue;
            b.Transposed = true;
            if (IsNamed(b.StoredName) || outputs.Count != 1 || !consumers.TryGetValue(outputs[0], out List<int>? next)) continue;
            foreach (int n in next)
            {
                var node = graph.Nodes[n];
                if (node.Op != "Add" || node.Inputs.Count != 2) continue;
                string other = node.Inputs[0] == outputs[0] ? node.Inputs[1] : node.Inputs[0];
                if (other.EndsWith(".bias", StringComparison.Ordinal) && stored.TryGetValue(other, out Entry? bias) && IsWeight(bias))
                {
                    names[b] = other.Substring(0, other.Length - ".bias".Length) + ".weight";
                    break;
                }
            }
        }

        var tensors = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (Entry e in graph.Initializers)
        {
            if (!IsWeight(e)) continue;
            string name = names.TryGetValue(e, out string? given) ? given : e.StoredName;
            if (!tensors.TryAdd(name, e))
                throw new ModelLoadException(path, name,
                    $"initializer '{e.StoredName}' is named after the bias its MatMul adds, but '{tensors[name].StoredName}' already has that name.");
        }
        return tensors;
    }

    private static bool IsWeight(Entry e) => e.Type is DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double;

    /// <summary>A name an exporter kept from the module (dotted, not "onnx::..." and not a number).</summary>
    private static bool IsNamed(string name) =>
        name.Contains('.') && !name.StartsWith("onnx::", StringComparison.Ordinal) && !name.StartsWith('/');

    // ---------------------------------------------------------------- reads

    /// <inheritdoc/>
    protected internal override void ReadElementsCore(string name, long first, Span<float> destination)
    {
        Entry e = _tensors[name];
        if (!e.Transposed)
        {
            ReadStored(e, name, first, destination);
            return;
        }
        // Stored [in, out] = [cols, rows]: the whole matrix is read once (kept until another is asked for), and the
        // asked-for run of [rows, cols] gathered from it.
        long rows = e.Dims[1], cols = e.Dims[0];
        if (_cachedName != name)
        {
            _cachedName = null;
            long count = rows * cols;
            if (_cached.Length < count) _cached = new float[checked((int)count)];
            ReadStored(e, name, 0, _cached.AsSpan(0, (int)count));
            _cachedName = name;
        }
        for (int i = 0; i < destination.Length; i++)
        {
            long at = first + i;
            long r = at / cols, c = at % cols;
            destination[i] = _cached[c * rows + r];
        }
    }

    private void ReadStored(Entry e, string name, long first, Span<float> destination)
    {
        switch (e.Type)
        {
            case DataType.Float:
                _file.ReadExactly(e.Offset + first * 4, MemoryMarshal.AsBytes(destination), name, "its data");
                break;
            case DataType.Float16:
            case DataType.BFloat16:
                SafetensorsFile.ReadWidened(_file, e.Offset + 2 * first, e.Type == DataType.Float16 ? TensorDType.F16 : TensorDType.BF16, name, destination);
                break;
            default:
                throw new ModelLoadException(FilePath, name, $"its type {e.Type} cannot be read as weights; FLOAT, FLOAT16 and BFLOAT16 can.");
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _file.Dispose();
    }

    /// <summary>
    /// Reads protobuf's wire format from the file through a small window: tags, varints, lengths and strings, each
    /// checked to stay inside the message that holds it (its end is passed to every read).
    /// </summary>
    private sealed class ProtoReader(WeightFileReader file)
    {
        private const int Window = 64 * 1024;
        private const int MaxString = 1 << 20;
        private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);
        private readonly byte[] _window = new byte[Window];
        private long _windowStart;
        private int _windowLength;

        public long Position { get; private set; }

        public string FilePath => file.FilePath;

        public ModelLoadException Malformed(string what) =>
            new(file.FilePath, null, $"not a well-formed ONNX model: {what} (at byte {Position}).");

        public ModelLoadException WrongWire(int field, int wire, string message) =>
            Malformed($"field {field} of a {message} has wire type {wire}, which that field never has");

        private byte ReadByte(long end, string what)
        {
            if (Position >= end)
                throw Malformed(end == file.Length ? $"the file ends inside {what}" : $"{what} runs past the end of the message that holds it");
            if (Position < _windowStart || Position >= _windowStart + _windowLength)
            {
                _windowStart = Position;
                _windowLength = (int)Math.Min(Window, file.Length - Position);
                file.ReadExactly(_windowStart, _window.AsSpan(0, _windowLength), null, "the ONNX protobuf");
            }
            return _window[Position++ - _windowStart];
        }

        public ulong ReadVarint(long end, string what)
        {
            ulong value = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                byte b = ReadByte(end, what);
                if (shift == 63 && b > 1) throw Malformed($"a varint of {what} overflows 64 bits");
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw Malformed($"a varint of {what} is longer than 10 bytes");
        }

        public (int Field, int Wire) ReadTag(long end, string what)
        {
            ulong tag = ReadVarint(end, what);
            int wire = (int)(tag & 7);
            ulong field = tag >> 3;
            if (field == 0 || field > 536_870_911) throw Malformed($"{what} holds field number {field}, which protobuf does not allow");
            if (wire is 3 or 4 or 6 or 7) throw Malformed($"{what} holds wire type {wire} (field {field}), which ONNX never uses");
            return ((int)field, wire);
        }

        /// <summary>Reads a length prefix and returns where the field ends, checked to lie inside <paramref name="end"/>.</summary>
        public long ReadLength(long end, string what)
        {
            ulong length = ReadVarint(end, what + "'s length");
            if (length > (ulong)(end - Position))
                throw Malformed($"{what} claims {length} bytes, but only {end - Position} remain in {(end == file.Length ? "the file" : "the message that holds it")}");
            return Position + (long)length;
        }

        public string ReadString(long end, string what)
        {
            long stop = ReadLength(end, what);
            long length = stop - Position;
            if (length > MaxString) throw Malformed($"{what} is a string of {length} bytes (more than {MaxString})");
            var bytes = new byte[length];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = ReadByte(stop, what);
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Malformed($"{what} is not valid UTF-8");
            }
        }

        public void SkipTo(long position) => Position = position;

        public void Skip(int wire, long end, string what)
        {
            switch (wire)
            {
                case 0: ReadVarint(end, what); break;
                case 1: Advance(8, end, what); break;
                case 2: Position = ReadLength(end, "a field of " + what); break;
                case 5: Advance(4, end, what); break;
                default: throw Malformed($"{what} holds wire type {wire}");
            }
        }

        private void Advance(int bytes, long end, string what)
        {
            if (end - Position < bytes) throw Malformed($"a fixed-size field of {what} runs past the end of its message");
            Position += bytes;
        }
    }
}
