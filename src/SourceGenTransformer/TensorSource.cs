using System;
using System.Buffers;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using System.Text.RegularExpressions;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer;

/// <summary>
/// A weight file as generated loaders read it: tensors by name, widened to float32, each checked against the shape the
/// declaration expects, read in bounded chunks into the model's own arrays (in panels, bfloat16 or Q8_0 as the
/// declaration keeps them), every value checked finite, and at the end every tensor of the file accounted for.
/// </summary>
/// <remarks>
/// Implementations (<see cref="SafetensorsFile"/>, <see cref="Llama2CCheckpoint"/>, sharded safetensors) supply the
/// names, shapes and a read of a run of elements; the checks and layouts here are the same for every format.
/// </remarks>
public abstract class TensorSource : IDisposable
{
    /// <summary>Floats a chunk of a matrix is read through at a time: 1 MB of scratch, not a second copy of the matrix.</summary>
    private const int ChunkFloats = 256 * 1024;

    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private DeclaredModel? _declared;

    /// <summary>Creates a source for <paramref name="filePath"/>.</summary>
    /// <param name="filePath">The file (named in every error).</param>
    /// <param name="checkFinite">Whether every value read is checked to be finite (<see cref="ModelOptions.CheckFiniteWeights"/>).</param>
    protected TensorSource(string filePath, bool checkFinite)
    {
        FilePath = filePath;
        CheckFinite = checkFinite;
    }

    /// <summary>The file the tensors come from (named in every error).</summary>
    public string FilePath { get; }

    /// <summary>Whether every value read is checked to be finite; a NaN or infinity is a <see cref="ModelLoadException"/>.</summary>
    public bool CheckFinite { get; }

    /// <summary>The names of every tensor the file holds.</summary>
    public abstract IEnumerable<string> TensorNames { get; }

    /// <summary>Whether a tensor of this name exists.</summary>
    public abstract bool Contains(string name);

    /// <summary>The shape of tensor <paramref name="name"/>, or null when the file has none of that name.</summary>
    protected abstract long[]? FindShape(string name);

    /// <summary>
    /// Reads elements [<paramref name="first"/>, first + destination.Length) of tensor <paramref name="name"/> (row-major,
    /// as the declaration's names lay it out) widened to float32. The range lies inside the tensor.
    /// </summary>
    protected internal abstract void ReadElementsCore(string name, long first, Span<float> destination);

    /// <summary>Reads elements [first, first + destination.Length) of a tensor in the file's own row order.</summary>
    protected delegate void ReadRun(long first, Span<float> destination);

    /// <summary>
    /// The stored row that logical row <paramref name="row"/> comes from when a head's rows of <paramref name="headSize"/>
    /// are in Meta's interleaved rotary order: logical row i of a head (rotate-half order) is stored row
    /// <c>2 (i mod half) + i / half</c>.
    /// </summary>
    protected static int InterleavedSourceRow(int row, int headSize)
    {
        int within = row % headSize, half = headSize / 2;
        return row - within + 2 * (within % half) + within / half;
    }

    /// <summary>
    /// Reads rows of a query or key matrix stored in Meta's interleaved RoPE layout (llama2.c, llama.cpp's llama
    /// architecture) into the rotate-half layout the engine uses, as Hugging Face's conversion permutes them: row
    /// (h, a * half + j) of the engine's layout is row (h, 2j + a) of the file's.
    /// </summary>
    protected static void ReadInterleavedRope(long[] shape, int heads, long first, Span<float> destination, ReadRun read)
    {
        int rows = (int)shape[0], cols = (int)shape[1];
        int headSize = rows / heads;
        for (long e = first; e < first + destination.Length;)
        {
            int row = (int)(e / cols), col = (int)(e % cols);
            int source = InterleavedSourceRow(row, headSize);
            int n = (int)Math.Min(cols - col, first + destination.Length - e);
            read((long)source * cols + col, destination.Slice((int)(e - first), n));
            e += n;
        }
    }

    /// <summary>Called once the loader has said what it declares; a format whose header describes the model checks it here.</summary>
    protected virtual void OnDeclared(DeclaredModel model)
    {
    }

    /// <summary>The declaration given to <see cref="Declare"/>, if any.</summary>
    protected DeclaredModel? Declared => _declared;

    /// <summary>Says what the loader declares (first, before any read).</summary>
    public void Declare(DeclaredModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _declared = model;
        OnDeclared(model);
    }

    /// <summary>The shape of a tensor, or a <see cref="ModelLoadException"/> naming it and a present tensor it may have meant.</summary>
    public long[] GetShape(string name)
    {
        if (FindShape(name) is { } shape) return shape;
        if (RowSlice.TryParse(name, out RowSlice slice))
        {
            long[] whole = GetShape(slice.Tensor);
            if (whole.Length != 2 || whole[0] != slice.Total)
                throw new ModelLoadException(FilePath, slice.Tensor,
                    $"expected shape [{slice.Total.ToString(CultureInfo.InvariantCulture)}, cols] from the declaration (fused parts, read as rows {slice.Start.ToString(CultureInfo.InvariantCulture)}..{(slice.Start + slice.Count).ToString(CultureInfo.InvariantCulture)} and the others), found {TensorInfo.FormatShape(whole)}.");
            return [slice.Count, whole[1]];
        }
        throw new ModelLoadException(FilePath, name, $"the file has no such tensor ({Count()} tensors present{Nearby(name)}).");
    }

    /// <summary>
    /// The name under which the generated loaders read rows [<paramref name="start"/>, start + <paramref name="count"/>) of
    /// the 2-D tensor <paramref name="name"/> of <paramref name="total"/> rows as a tensor of its own: how a fused tensor
    /// (Phi-3's qkv_proj and gate_up_proj) is read into the separate matrices the kernels multiply by. Every read
    /// checks the whole tensor's rows, and reading a part marks the whole tensor read.
    /// </summary>
    public static string Rows(string name, int start, int count, int total) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}[rows {start}..{start + count} of {total}]");

    private readonly record struct RowSlice(string Tensor, long Start, long Count, long Total)
    {
        private static readonly Regex Pattern = new(@"^(?<t>.+)\[rows (?<a>\d+)\.\.(?<b>\d+) of (?<n>\d+)\]$", RegexOptions.CultureInvariant);

        public static bool TryParse(string name, out RowSlice slice)
        {
            slice = default;
            Match m = Pattern.Match(name);
            if (!m.Success) return false;
            long a = long.Parse(m.Groups["a"].Value, CultureInfo.InvariantCulture), b = long.Parse(m.Groups["b"].Value, CultureInfo.InvariantCulture);
            long n = long.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            if (b <= a || b > n) return false;
            slice = new RowSlice(m.Groups["t"].Value, a, b - a, n);
            return true;
        }
    }

    private int Count()
    {
        int n = 0;
        foreach (string _ in TensorNames) n++;
        return n;
    }

    private string Nearby(string name)
    {
        // Point at the likely cause (another family's names, a missing prefix) by showing a present tensor that ends
        // like the missing one, else any present tensor.
        int dot = name.LastIndexOf('.');
        int previousDot = dot > 0 ? name.LastIndexOf('.', dot - 1) : -1;
        string tail = name.Substring(previousDot + 1);
        string? example = null;
        foreach (string key in TensorNames)
        {
            if (key.EndsWith(tail, StringComparison.Ordinal)) return $"; a similar one is '{key}'";
            example ??= key;
        }
        return example is null ? "" : $"; for example '{example}'";
    }

    // ---------------------------------------------------------------- reads

    /// <summary>Reads elements of a tensor, marks it read, and checks the values are finite.</summary>
    internal void ReadElements(string name, long first, Span<float> destination)
    {
        if (FindShape(name) is null && RowSlice.TryParse(name, out RowSlice slice))
        {
            // Rows of a fused tensor: elements of the whole one, offset by the rows before the part.
            long cols = GetShape(name)[1];
            ReadElementsCore(slice.Tensor, first + slice.Start * cols, destination);
            _read.Add(slice.Tensor);
        }
        else
        {
            ReadElementsCore(name, first, destination);
            _read.Add(name);
        }
        if (CheckFinite && !float.IsFinite(TensorPrimitives.Sum((ReadOnlySpan<float>)destination)))
        {
            for (int i = 0; i < destination.Length; i++)
            {
                if (!float.IsFinite(destination[i]))
                    throw new ModelLoadException(FilePath, name,
                        $"element {(first + i).ToString(CultureInfo.InvariantCulture)} (of shape {TensorInfo.FormatShape(GetShape(name))}) is {destination[i].ToString(CultureInfo.InvariantCulture)}; " +
                        "the weights are corrupt or overflowed when they were converted (ModelOptions.CheckFiniteWeights = false skips this check).");
            }
        }
    }

    private long[] RequireShape(string name, ReadOnlySpan<long> expected)
    {
        long[] shape = GetShape(name);
        if (!expected.SequenceEqual(shape))
            throw new ModelLoadException(FilePath, name, $"expected shape {TensorInfo.FormatShape(expected)} from the declaration, found {TensorInfo.FormatShape(shape)}.");
        return shape;
    }

    private static void RequireRoom(int needed, int room, string name)
    {
        if (room < needed)
            throw new ArgumentException($"The destination holds {room} values but tensor '{name}' needs {needed}.", nameof(room));
    }

    /// <summary>Reads a tensor whose shape must equal <paramref name="expectedShape"/> into <paramref name="destination"/> (row-major).</summary>
    public void ReadInto(string name, ReadOnlySpan<long> expectedShape, Span<float> destination)
    {
        RequireShape(name, expectedShape);
        long count = 1;
        foreach (long d in expectedShape) count *= d;
        RequireRoom(checked((int)count), destination.Length, name);
        ReadElements(name, 0, destination.Slice(0, (int)count));
    }

    /// <summary>
    /// Reads the first <paramref name="rows"/> rows of a table of <paramref name="cols"/> columns that has at least that
    /// many rows (a position table longer than needed); <c>[rows, 1, cols]</c> is accepted too, as PyTorch's translation
    /// tutorial stores its position table.
    /// </summary>
    public void ReadLeadingRowsInto(string name, long rows, long cols, Span<float> destination)
    {
        long[] shape = GetShape(name);
        bool fits = shape.Length switch
        {
            2 => shape[1] == cols,
            3 => shape[1] == 1 && shape[2] == cols,
            _ => false,
        };
        if (!fits || shape[0] < rows)
            throw new ModelLoadException(FilePath, name, $"expected shape [>= {rows}, {cols}] (at least {rows} rows of {cols}), found {TensorInfo.FormatShape(shape)}.");
        int count = checked((int)(rows * cols));
        RequireRoom(count, destination.Length, name);
        ReadElements(name, 0, destination.Slice(0, count));
    }

    /// <summary>
    /// The chunks of the (rows, cols) matrix <c>name</c>, stored as <c>[cols, rows]</c> when transposed (GPT-2's Conv1D,
    /// <c>[in, out]</c>): each is logical rows [R0, R0 + RowCount) by columns [C0, C0 + ColCount), row-major in
    /// <see cref="Values"/>. Chunks of a transposed matrix span whole multiples of 64 columns (whole Q8_0 groups and Q4_0 blocks). At most
    /// two chunks of about 1 MB each are held at a time: the matrix is never copied whole.
    /// </summary>
    private ref struct MatrixChunks
    {
        private readonly TensorSource _source;
        private readonly string _name;
        private readonly int _rows, _cols;
        private readonly bool _transposed;
        private readonly int _step;
        private float[] _stored, _turned;
        private int _next;

        public MatrixChunks(TensorSource source, string name, int rows, int cols, bool transposed)
        {
            source.RequireShape(name, transposed ? [cols, rows] : [rows, cols]);
            _source = source;
            _name = name;
            _rows = rows;
            _cols = cols;
            _transposed = transposed;
            // Rows per chunk, or (transposed) stored rows = logical columns per chunk, in multiples of 64.
            _step = transposed ? Math.Max(64, ChunkFloats / Math.Max(1, rows) / 64 * 64) : Math.Max(1, ChunkFloats / Math.Max(1, cols));
            int size = transposed ? _step * rows : _step * cols;
            _stored = ArrayPool<float>.Shared.Rent(size);
            _turned = transposed ? ArrayPool<float>.Shared.Rent(size) : [];
        }

        public int R0, RowCount, C0, ColCount;
        public ReadOnlySpan<float> Values;

        public bool Next()
        {
            int end = _transposed ? _cols : _rows;
            if (_next >= end) return false;
            int count = Math.Min(_step, end - _next);
            if (!_transposed)
            {
                Span<float> chunk = _stored.AsSpan(0, count * _cols);
                _source.ReadElements(_name, (long)_next * _cols, chunk);
                (R0, RowCount, C0, ColCount) = (_next, count, 0, _cols);
                Values = chunk;
            }
            else
            {
                Span<float> stored = _stored.AsSpan(0, count * _rows), logical = _turned.AsSpan(0, count * _rows);
                _source.ReadElements(_name, (long)_next * _rows, stored);
                for (int k = 0; k < count; k++)
                    for (int r = 0; r < _rows; r++)
                        logical[r * count + k] = stored[k * _rows + r];
                (R0, RowCount, C0, ColCount) = (0, _rows, _next, count);
                Values = logical;
            }
            _next += count;
            return true;
        }

        public void Dispose()
        {
            ArrayPool<float>.Shared.Return(_stored);
            if (_turned.Length > 0) ArrayPool<float>.Shared.Return(_turned);
            _stored = _turned = [];
        }
    }

    /// <summary>Reads a <c>[cols, rows]</c> tensor transposed into the row-major (<paramref name="rows"/>, <paramref name="cols"/>) <paramref name="destination"/>.</summary>
    public void ReadTransposedInto(string name, int rows, int cols, Span<float> destination)
    {
        RequireRoom(checked(rows * cols), destination.Length, name);
        using var chunks = new MatrixChunks(this, name, rows, cols, transposed: true);
        while (chunks.Next())
            for (int r = 0; r < chunks.RowCount; r++)
                chunks.Values.Slice(r * chunks.ColCount, chunks.ColCount).CopyTo(destination.Slice((chunks.R0 + r) * cols + chunks.C0, chunks.ColCount));
    }

    /// <summary>
    /// Reads the (<paramref name="rows"/>, <paramref name="cols"/>) float32 matrix <paramref name="name"/> into
    /// <paramref name="destination"/> in panels of 32 rows stored column by column (<see cref="WeightPacking.ToPanels"/>),
    /// a chunk at a time.
    /// </summary>
    /// <param name="name">The tensor.</param>
    /// <param name="rows">The matrix's rows (a multiple of 32).</param>
    /// <param name="cols">The matrix's columns.</param>
    /// <param name="destination">Receives the panels.</param>
    /// <param name="transposed">The file holds the matrix as <c>[cols, rows]</c> (GPT-2's Conv1D).</param>
    public void ReadPanelsInto(string name, int rows, int cols, Span<float> destination, bool transposed = false)
    {
        const int P = WeightPacking.PanelRows;
        if (rows % P != 0) throw new ArgumentException($"A ({rows}, {cols}) matrix does not split into panels of {P} rows.", nameof(rows));
        RequireRoom(checked(rows * cols), destination.Length, name);
        using var chunks = new MatrixChunks(this, name, rows, cols, transposed);
        while (chunks.Next())
        {
            for (int r = 0; r < chunks.RowCount; r++)
            {
                int row = chunks.R0 + r;
                Span<float> panel = destination.Slice(row / P * P * cols + row % P);
                ReadOnlySpan<float> line = chunks.Values.Slice(r * chunks.ColCount, chunks.ColCount);
                for (int c = 0; c < line.Length; c++) panel[(chunks.C0 + c) * P] = line[c];
            }
        }
    }

    /// <summary>Reads a float matrix into bfloat16 (round to nearest even, <see cref="WeightPacking.ToBFloat16"/>), a chunk at a time.</summary>
    public void ReadBFloat16Into(string name, int rows, int cols, Span<ushort> destination, bool transposed = false)
    {
        RequireRoom(checked(rows * cols), destination.Length, name);
        using var chunks = new MatrixChunks(this, name, rows, cols, transposed);
        while (chunks.Next())
            for (int r = 0; r < chunks.RowCount; r++)
                WeightPacking.ToBFloat16(chunks.Values.Slice(r * chunks.ColCount, chunks.ColCount),
                    destination.Slice((chunks.R0 + r) * cols + chunks.C0, chunks.ColCount));
    }

    /// <summary>
    /// Reads a float matrix quantised to Q8_0 blocks of 32 weights along each row (<see cref="WeightPacking.ToInt8"/>), a
    /// chunk at a time, then in the panels of four rows the kernels read (<see cref="IntegerBlocks.ToPanels(Span{sbyte}, Span{Half}, int, int)"/>).
    /// A GGUF Q8_0 tensor comes back exactly as it is: its values are <c>q · d</c>, whose largest magnitude is
    /// <c>127 · d</c>, so the scale is <c>d</c> again and every <c>q</c> its own.
    /// </summary>
    public void ReadInt8Into(string name, int rows, int cols, Span<sbyte> quantized, Span<Half> scales, bool transposed = false)
    {
        const int B = IntegerBlocks.Block;
        if (cols % B != 0)
            throw new ArgumentException($"Rows of {cols} do not split into Q8_0 blocks of {B}.", nameof(cols));
        RequireRoom(checked(rows * cols), quantized.Length, name);
        RequireRoom(rows * cols / B, scales.Length, name);
        using (var chunks = new MatrixChunks(this, name, rows, cols, transposed))
        {
            while (chunks.Next())
            {
                for (int r = 0; r < chunks.RowCount; r++)
                {
                    int at = (chunks.R0 + r) * cols + chunks.C0;
                    WeightPacking.ToInt8(chunks.Values.Slice(r * chunks.ColCount, chunks.ColCount), B,
                        quantized.Slice(at, chunks.ColCount), scales.Slice(at / B, chunks.ColCount / B));
                }
            }
        }
        IntegerBlocks.ToPanels(quantized, scales, rows, cols);
    }

    /// <summary>
    /// Whether the file names one stored tensor by both names (a GGUF file without <c>output.weight</c> answers
    /// <c>lm_head.weight</c> with its token embedding), so there is nothing to compare.
    /// </summary>
    protected virtual bool IsAlias(string name, string other) => false;

    /// <summary>
    /// The ggml block type the file stores tensor <paramref name="name"/> in (GGUF), or null where the format holds plain
    /// floats (safetensors, llama2.c, ONNX): what <see cref="ReadStoredRows"/> copies.
    /// </summary>
    protected virtual GgmlType? StoredBlockType(string name) => null;

    /// <summary>
    /// Copies rows [<paramref name="first"/>, first + <paramref name="count"/>) of tensor <paramref name="name"/> as the
    /// file stores them (in <see cref="StoredBlockType"/>, <see cref="GgmlQuants.RowBytes"/> bytes a row) into
    /// <paramref name="destination"/>, rows in the declaration's order. Only called for a tensor that has a stored block type.
    /// </summary>
    protected virtual void ReadStoredRows(string name, int first, int count, Span<byte> destination) =>
        throw new InvalidOperationException($"{GetType().Name} stores no ggml blocks; '{name}' is read as floats.");

    /// <summary>
    /// Reads the (<paramref name="rows"/>, <paramref name="cols"/>) matrix <paramref name="name"/> as ggml blocks in a
    /// <see cref="BlockMatrix"/> (<see cref="WeightPrecision.Q4_0"/>, <see cref="WeightPrecision.Q4K"/>): a tensor the file
    /// stores in <paramref name="type"/>, or with <paramref name="keepFileTypes"/> in any type the kernels multiply
    /// (<see cref="BlockMatrix.IsKernelType"/>: GGUF's Q4_K, Q6_K, Q5_0, Q4_0, Q8_0), is copied as it is, bit for bit;
    /// any other is quantised to <paramref name="type"/> as ggml's reference quantisation does
    /// (<see cref="GgmlQuants.Quantize"/>), a chunk of rows at a time. Every block's scale is checked finite.
    /// </summary>
    /// <param name="name">The tensor.</param>
    /// <param name="rows">The matrix's rows.</param>
    /// <param name="cols">Its columns (a whole number of the type's blocks).</param>
    /// <param name="type">The type to quantise to.</param>
    /// <param name="keepFileTypes">Whether a tensor stored in another type the kernels multiply keeps it (Q4K's mix).</param>
    /// <param name="transposed">The file holds the matrix as <c>[cols, rows]</c> (GPT-2's Conv1D): it is read whole, then quantised.</param>
    /// <exception cref="ModelLoadException">The tensor is missing, of another shape, or holds a value or scale that is not finite.</exception>
    public BlockMatrix ReadBlockMatrix(string name, int rows, int cols, GgmlType type, bool keepFileTypes = true, bool transposed = false)
    {
        BlockMatrix m;
        // Rows go to the matrix a panel (or the rows past the panels) at a time, from ggml's row layout.
        byte[] staging;
        if (!transposed && FindShape(name) is not null && StoredBlockType(name) is { } stored && (stored == type || (keepFileTypes && BlockMatrix.IsKernelType(stored))))
        {
            RequireShape(name, [rows, cols]);
            m = new BlockMatrix(stored, rows, cols);
            staging = new byte[BlockMatrix.PanelRows * m.RowBytes];
            for (int r = 0; r < rows;)
            {
                int count = r < m.PanelRowCount ? BlockMatrix.PanelRows : Math.Min(BlockMatrix.PanelRows, rows - r);
                ReadStoredRows(name, r, count, staging);
                m.WriteRows(r, staging.AsSpan(0, count * m.RowBytes));
                r += count;
            }
            _read.Add(name);
            if (CheckFinite && m.FirstNonFiniteScale() is long bad and >= 0)
                throw new ModelLoadException(FilePath, name,
                    $"the scale of {stored} block {bad.ToString(CultureInfo.InvariantCulture)} is not finite; the weights are corrupt (ModelOptions.CheckFiniteWeights = false skips this check).");
            return m;
        }
        m = new BlockMatrix(type, rows, cols);
        staging = new byte[BlockMatrix.PanelRows * m.RowBytes];
        int staged = 0, stagedFrom = 0;
        void Quantize(ReadOnlySpan<float> row)
        {
            GgmlQuants.Quantize(type, row, staging.AsSpan(staged * m.RowBytes, m.RowBytes));
            if (++staged == BlockMatrix.PanelRows || stagedFrom + staged == rows)
            {
                m.WriteRows(stagedFrom, staging.AsSpan(0, staged * m.RowBytes));
                stagedFrom += staged;
                staged = 0;
            }
        }
        if (transposed)
        {
            // Whole rows are needed and the file holds columns: the matrix is read whole (GPT-2's matrices are a few MB).
            float[] values = ArrayPool<float>.Shared.Rent(checked(rows * cols));
            try
            {
                ReadTransposedInto(name, rows, cols, values);
                for (int r = 0; r < rows; r++) Quantize(values.AsSpan(r * cols, cols));
            }
            finally
            {
                ArrayPool<float>.Shared.Return(values);
            }
            return m;
        }
        using var chunks = new MatrixChunks(this, name, rows, cols, transposed: false);
        while (chunks.Next())
            for (int r = 0; r < chunks.RowCount; r++)
                Quantize(chunks.Values.Slice(r * cols, cols));
        return m;
    }

    /// <summary>
    /// A tied declaration's classifier is the token embedding <paramref name="embeddingName"/>. A file may still hold
    /// <paramref name="name"/> (<c>lm_head.weight</c>): as a saved copy of the embedding it is accepted (compared value
    /// for value with the file's embedding, a chunk of each at a time), but a different matrix is a trained classifier
    /// that the declaration would ignore, a <see cref="ModelLoadException"/>.
    /// </summary>
    public void CheckTiedCopy(string name, string embeddingName, int rows, int cols)
    {
        if (!Contains(name)) return;
        if (IsAlias(name, embeddingName))
        {
            _read.Add(name); // the embedding itself, under the classifier's name
            return;
        }
        using var copy = new MatrixChunks(this, name, rows, cols, transposed: false);
        using var embedding = new MatrixChunks(this, embeddingName, rows, cols, transposed: false);
        while (copy.Next())
        {
            embedding.Next();
            int differs = FirstDifference(copy.Values, embedding.Values);
            if (differs >= 0)
                throw new ModelLoadException(FilePath, name,
                    $"{_declared?.ClassName ?? "the declaration"} declares TiedEmbeddings = true, so its classifier is the token embedding, but the file holds " +
                    $"a separate classifier (element {(long)copy.R0 * cols + differs} differs from the embedding's); declare TiedEmbeddings = false to use it.");
        }
    }

    private static int FirstDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) return i;
        return -1;
    }

    // ---------------------------------------------------------------- what is left

    /// <summary>
    /// Tensors that real checkpoints of a family carry and that no forward pass reads: RoPE's inv_freq buffer, GPT-2's
    /// causal-mask buffers, BERT's position-id buffer and its pre-training heads (pooler, cls). They are skipped.
    /// </summary>
    public static bool IsIgnorable(ModelFamily family, string name) => family switch
    {
        ModelFamily.Llama => name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal),
        ModelFamily.Gpt2 => name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal),
        ModelFamily.Bert => name.EndsWith("embeddings.position_ids", StringComparison.Ordinal)
            || name.StartsWith("pooler.", StringComparison.Ordinal) || name.StartsWith("bert.pooler.", StringComparison.Ordinal)
            || name.StartsWith("cls.", StringComparison.Ordinal),
        _ => false,
    };

    private static readonly Regex LayerIndex = new(@"(?:^|\.)(?<stack>encoder\.|decoder\.)?(?:layers|layer|h)\.(?<n>\d+)\.", RegexOptions.CultureInvariant);

    /// <summary>
    /// Throws a <see cref="ModelLoadException"/> if the file holds a tensor the loader did not read (other than
    /// <see cref="IsIgnorable"/> ones): layers beyond the declaration's, a family's optional tensor the declaration
    /// does not have, another family's weights. Loading them silently would run a different model than the file's.
    /// </summary>
    public void ThrowIfUnread()
    {
        var unread = new List<string>();
        foreach (string name in TensorNames)
            if (!_read.Contains(name) && (_declared is null || !IsIgnorable(_declared.Family, name))) unread.Add(name);
        if (unread.Count == 0) return;
        unread.Sort(StringComparer.Ordinal);
        string who = _declared?.ClassName ?? "the declaration";

        // Layers past the declaration's: the most common mistake, and the most useful message.
        foreach (string name in unread)
        {
            Match m = LayerIndex.Match(name);
            if (!m.Success || _declared is null) continue;
            int n = int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            (string property, int declared) = m.Groups["stack"].Value switch
            {
                "encoder." when _declared.Family == ModelFamily.Seq2Seq => ("EncoderLayers", _declared.EncoderLayers),
                "decoder." when _declared.Family == ModelFamily.Seq2Seq => ("DecoderLayers", _declared.DecoderLayers),
                _ => ("Layers", _declared.Layers),
            };
            if (n < declared) continue;
            int most = n;
            foreach (string other in unread)
            {
                Match o = LayerIndex.Match(other);
                if (o.Success && o.Groups["stack"].Value == m.Groups["stack"].Value)
                    most = Math.Max(most, int.Parse(o.Groups["n"].Value, CultureInfo.InvariantCulture));
            }
            throw new ModelLoadException(FilePath, name,
                $"the file holds layers up to {most} ({most + 1} layers or more) but {who} declares {property} = {declared}, so they would be ignored; declare {property} = {most + 1}.");
        }

        var list = new StringBuilder();
        for (int i = 0; i < Math.Min(5, unread.Count); i++) list.Append(i == 0 ? "'" : ", '").Append(unread[i]).Append('\'');
        if (unread.Count > 5) list.Append($" and {unread.Count - 5} more");
        throw new ModelLoadException(FilePath, unread[0],
            $"{who} reads {_read.Count} of the file's tensors and leaves {unread.Count} unread: {list}. The file is for another model or configuration " +
            $"(a weight this {(_declared?.Family.ToString() ?? "")} declaration has no place for, such as a bias or another family's tensor); loading it would silently ignore them.");
    }

    /// <summary>Releases the file.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the file.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
