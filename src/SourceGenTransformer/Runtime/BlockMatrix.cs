using System;
using System.ComponentModel;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// One weight matrix of a <see cref="WeightPrecision.Q4K"/> model: (<see cref="Rows"/>, <see cref="Cols"/>) in one of
/// ggml's block types. Each matrix carries its own type (a Q4_K_M file mixes Q4_K with Q6_K, and rows that are not
/// whole blocks of 256 fall back to Q5_0 or Q8_0), and the generated kernels dispatch on it once per product, never
/// per block.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> Rows are stored as a GGUF file stores them (each row's blocks, byte for byte, one row after
/// another), except that a Q4_K matrix keeps its rows in <b>panels</b> of <see cref="PanelRows"/>: per panel and
/// super-block of 256 columns, 1184 bytes (<see cref="Q4KPanelBlockBytes"/>):</para>
/// <list type="bullet">
/// <item>bytes 0..15, 16..31: the eight rows' float16 d, then dmin;</item>
/// <item>bytes 32..95, 96..159: the 6-bit scales, then minima, of sub-block j (32 columns) for row r at 8j + r
/// (unpacked from ggml's 12 bytes into one byte each: 32 bytes more than ggml's 1152);</item>
/// <item>bytes 160..1183: the nibbles, 128 bytes per sub-block j: 32 bytes per c = 0..3, byte 4r + k holding column
/// 32j + 4c + k of row r in its low nibble and column 32j + 16 + 4c + k in its high nibble.</item>
/// </list>
/// <para>A Q6_K matrix keeps panels of eight rows too, 1680 bytes per super-block (<see cref="Q6KPanelBlockBytes"/>,
/// ggml's own 8 × 210): the rows' float16 d (bytes 0..15); the int8 scale of sub-block j (16 columns) for row r at
/// 16 + 8j + r; then per 32 columns h (h = 0..7) 192 bytes at 144 + 192h: 128 bytes of low four bits laid out as
/// Q4_K's nibbles (byte 32c + 4r + k: column 32h + 4c + k low, 32h + 16 + 4c + k high), then 64 bytes of the top two
/// bits, byte 32e + 4r + k holding in bits 2c..2c + 1 those of the column of group 4e + c (groups 0..3 the low nibbles'
/// columns, 4..7 the high ones').</para>
/// <para>Q8_0, Q4_0 and Q5_0 matrices keep panels of eight rows per block of 32 columns, of ggml's own size (272, 144
/// and 176 bytes): the rows' float16 d (bytes 0..15), then the codes as unsigned bytes of four columns of eight rows
/// (byte 4r + k of each 32): Q8_0's eight groups of four columns, each code plus 128 (<see cref="Block32Offset"/>);
/// Q4_0's nibbles as Q4_K's (byte 32c + 4r + k: column 4c + k low, 16 + 4c + k high); Q5_0's the same, then 32 bytes
/// whose byte 4r + k holds in bit g the fifth bit of the column of group g (0..3 the low nibbles', 4..7 the high ones').
/// Each code then stands for code - offset (128, 8, 16), which the kernels take off per block as offset times the
/// input's sum.</para>
/// <para>So 32 bytes hold four consecutive columns of eight rows: one <c>vpdpbusd</c> by the input's four codes,
/// broadcast, adds each row's four products to its own int32 lane, an outer product with no sums across lanes
/// (<c>BlockKernels</c>). Rows past the last whole panel stay in ggml's row layout.</para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class BlockMatrix
{
    /// <summary>Rows of one panel (Q4_K).</summary>
    public const int PanelRows = 8;

    /// <summary>Bytes of one Q4_K panel's super-block: eight rows' d and dmin, scales and minima as bytes, and nibbles.</summary>
    public const int Q4KPanelBlockBytes = 1184;

    /// <summary>Bytes of one Q6_K panel's super-block: eight rows' d, int8 scales, low nibbles and top two bits.</summary>
    public const int Q6KPanelBlockBytes = 1680;

    /// <summary>A zeroed matrix of the given type and shape (its bytes in <see cref="WeightMemory"/>).</summary>
    /// <exception cref="ArgumentException">The type is not one the kernels multiply, or a row is not whole blocks.</exception>
    public BlockMatrix(GgmlType type, int rows, int cols)
    {
        if (!IsKernelType(type))
            throw new ArgumentException($"{type} is not a block type the kernels multiply (Q4_K, Q6_K, Q5_0, Q4_0, Q8_0).", nameof(type));
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlQuants.RowBytes(type, cols);
        PanelRowCount = rows - rows % PanelRows;
        PanelBytes = cols / GgmlQuants.BlockOf(type).Block * PanelBlockBytes(type);
        TailStart = PanelRowCount / PanelRows * PanelBytes;
        Data = WeightMemory.Allocate<byte>(checked(TailStart + (rows - PanelRowCount) * RowBytes));
    }

    /// <summary>The ggml type every block of this matrix has.</summary>
    public GgmlType Type { get; }

    /// <summary>Output rows.</summary>
    public int Rows { get; }

    /// <summary>Columns (inputs) of each row: a whole number of the type's blocks.</summary>
    public int Cols { get; }

    /// <summary>Bytes of one row's blocks in ggml's layout.</summary>
    public int RowBytes { get; }

    /// <summary>Rows kept in whole panels (a multiple of <see cref="PanelRows"/>; 0 for the types kept in rows).</summary>
    public int PanelRowCount { get; }

    /// <summary>Bytes of one panel (<see cref="PanelRows"/> rows, every super-block).</summary>
    public int PanelBytes { get; }

    /// <summary>Where the rows past the last panel start, in ggml's row layout.</summary>
    public int TailStart { get; }

    /// <summary>The panels, then the rows past them (see the remarks).</summary>
    public byte[] Data { get; }

    /// <summary>Bytes of one panel's block of <paramref name="type"/> (eight rows, one block of columns): eight times ggml's block, 32 more for Q4_K.</summary>
    public static int PanelBlockBytes(GgmlType type) => type == GgmlType.Q4_K ? Q4KPanelBlockBytes : PanelRows * GgmlQuants.BlockOf(type).Bytes;

    /// <summary>The bias of a panel code of the blocks of 32: the weight is code - offset (Q8_0 128, Q4_0 8, Q5_0 16).</summary>
    public static int Block32Offset(GgmlType type) => type switch { GgmlType.Q8_0 => 128, GgmlType.Q4_0 => 8, _ => 16 };

    /// <summary>
    /// Stores rows [<paramref name="first"/>, first + count) from ggml's row layout (<see cref="RowBytes"/> each): rows of
    /// the panels only as whole panels.
    /// </summary>
    /// <exception cref="ArgumentException">The rows are not whole ggml rows, run past the matrix, or split a panel.</exception>
    public void WriteRows(int first, ReadOnlySpan<byte> rows)
    {
        int count = rows.Length / RowBytes;
        if (rows.Length % RowBytes != 0 || first < 0 || first + count > Rows || (first < PanelRowCount && (first % PanelRows != 0 || Math.Min(count, PanelRowCount - first) % PanelRows != 0)))
            throw new ArgumentException($"Rows {first}..{first + count} of a {Rows} x {Cols} {Type} matrix ({rows.Length} bytes) are not whole rows of {RowBytes} bytes, or split one of its panels of {PanelRows}.");
        int r = first;
        for (; r < first + count && r < PanelRowCount; r += PanelRows)
        {
            ReadOnlySpan<byte> source = rows.Slice((r - first) * RowBytes, PanelRows * RowBytes);
            Span<byte> panel = Data.AsSpan(r / PanelRows * PanelBytes, PanelBytes);
            if (Type == GgmlType.Q4_K) PackQ4KPanel(source, panel);
            else if (Type == GgmlType.Q6_K) PackQ6KPanel(source, panel);
            else PackBlock32Panel(source, panel);
        }
        if (r < first + count)
            rows[((r - first) * RowBytes)..].CopyTo(Data.AsSpan(TailStart + (r - PanelRowCount) * RowBytes));
    }

    /// <summary>Eight ggml Q4_K rows into one panel (see the remarks).</summary>
    private void PackQ4KPanel(ReadOnlySpan<byte> rows, Span<byte> panel)
    {
        panel.Clear();
        int blocks = Cols / 256;
        for (int b = 0; b < blocks; b++)
        {
            Span<byte> p = panel.Slice(b * Q4KPanelBlockBytes, Q4KPanelBlockBytes);
            for (int r = 0; r < PanelRows; r++)
            {
                ReadOnlySpan<byte> src = rows.Slice(r * RowBytes + b * 144, 144);
                src[..2].CopyTo(p[(2 * r)..]);
                src.Slice(2, 2).CopyTo(p[(16 + 2 * r)..]);
                for (int j = 0; j < 8; j++)
                {
                    (int sc, int m) = GgmlQuants.ScaleMin(j, src.Slice(4, 12));
                    p[32 + 8 * j + r] = (byte)sc;
                    p[96 + 8 * j + r] = (byte)m;
                }
                for (int i = 0; i < 256; i++)
                {
                    int q = i % 64 < 32 ? src[16 + 32 * (i / 64) + i % 32] & 0xF : src[16 + 32 * (i / 64) + i % 32] >> 4;
                    (int at, int shift) = Q4KNibble(r, i);
                    p[at] |= (byte)(q << shift);
                }
            }
        }
    }

    /// <summary>Eight ggml rows of Q8_0, Q4_0 or Q5_0 into one panel (see the remarks).</summary>
    private void PackBlock32Panel(ReadOnlySpan<byte> rows, Span<byte> panel)
    {
        panel.Clear();
        int bytes = GgmlQuants.BlockOf(Type).Bytes, panelBlock = PanelBlockBytes(Type);
        Span<byte> q = stackalloc byte[32];
        for (int b = 0; b < Cols / 32; b++)
        {
            Span<byte> p = panel.Slice(b * panelBlock, panelBlock);
            for (int r = 0; r < PanelRows; r++)
            {
                ReadOnlySpan<byte> src = rows.Slice(r * RowBytes + b * bytes, bytes);
                src[..2].CopyTo(p[(2 * r)..]);
                Block32Codes(src, q);
                for (int i = 0; i < 32; i++)
                {
                    (int at, int shift, int fifth, int g) = Block32Bits(r, i);
                    if (Type == GgmlType.Q8_0)
                    {
                        p[at] = q[i];
                        continue;
                    }
                    p[at] |= (byte)((q[i] & 0xF) << shift);
                    if (Type == GgmlType.Q5_0) p[fifth] |= (byte)((q[i] >> 4) << g);
                }
            }
        }
    }

    /// <summary>A ggml block of 32's codes as the panels keep them: Q8_0's plus 128, Q4_0's 0..15, Q5_0's 0..31 (the weight being code - <see cref="Block32Offset"/>).</summary>
    private void Block32Codes(ReadOnlySpan<byte> block, Span<byte> q)
    {
        switch (Type)
        {
            case GgmlType.Q8_0:
                for (int i = 0; i < 32; i++) q[i] = (byte)(block[2 + i] ^ 0x80);
                break;
            case GgmlType.Q4_0:
                for (int j = 0; j < 16; j++) (q[j], q[j + 16]) = ((byte)(block[2 + j] & 0xF), (byte)(block[2 + j] >> 4));
                break;
            default:
                uint qh = BitConverter.ToUInt32(block[2..]);
                for (int j = 0; j < 16; j++)
                    (q[j], q[j + 16]) = ((byte)((block[6 + j] & 0xF) | (int)((qh >> j) & 1) << 4), (byte)((block[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4));
                break;
        }
    }

    /// <summary>
    /// Where code <paramref name="i"/> of panel row <paramref name="r"/> sits in a panel's block of 32 (see the remarks):
    /// its byte (Q8_0's whole byte; Q4_0's and Q5_0's nibble, at its shift), and Q5_0's fifth bit's byte and bit g.
    /// </summary>
    private (int At, int Shift, int Fifth, int G) Block32Bits(int r, int i)
    {
        int g = i % 16 / 4 + (i >= 16 ? 4 : 0), k = i % 4;
        int at = Type == GgmlType.Q8_0 ? 16 + 32 * (i / 4) + 4 * r + k : 16 + 32 * (i % 16 / 4) + 4 * r + k;
        return (at, i >= 16 ? 4 : 0, 144 + 4 * r + k, g);
    }

    /// <summary>One block of 32 of a Q8_0, Q4_0 or Q5_0 row, from its panel or the rows past them: its codes (see <see cref="Block32Codes"/>) and d.</summary>
    internal void Block32RowBlock(int row, int b, Span<byte> q, out float d)
    {
        if (row < PanelRowCount)
        {
            ReadOnlySpan<byte> p = Data.AsSpan(row / PanelRows * PanelBytes + b * PanelBlockBytes(Type), PanelBlockBytes(Type));
            int r = row % PanelRows;
            d = IntegerBlocks.FromHalf(BitConverter.ToUInt16(p[(2 * r)..]));
            for (int i = 0; i < 32; i++)
            {
                (int at, int shift, int fifth, int g) = Block32Bits(r, i);
                q[i] = Type == GgmlType.Q8_0 ? p[at]
                    : (byte)(((p[at] >> shift) & 0xF) | (Type == GgmlType.Q5_0 ? ((p[fifth] >> g) & 1) << 4 : 0));
            }
            return;
        }
        int bytes = GgmlQuants.BlockOf(Type).Bytes;
        ReadOnlySpan<byte> src = Data.AsSpan(TailStart + (row - PanelRowCount) * RowBytes + b * bytes, bytes);
        d = IntegerBlocks.FromHalf(BitConverter.ToUInt16(src));
        Block32Codes(src, q);
    }

    /// <summary>Eight ggml Q6_K rows into one panel (see the remarks).</summary>
    private void PackQ6KPanel(ReadOnlySpan<byte> rows, Span<byte> panel)
    {
        panel.Clear();
        Span<byte> q = stackalloc byte[256];
        for (int b = 0; b < Cols / 256; b++)
        {
            Span<byte> p = panel.Slice(b * Q6KPanelBlockBytes, Q6KPanelBlockBytes);
            for (int r = 0; r < PanelRows; r++)
            {
                ReadOnlySpan<byte> src = rows.Slice(r * RowBytes + b * 210, 210);
                src.Slice(208, 2).CopyTo(p[(2 * r)..]);
                for (int j = 0; j < 16; j++) p[16 + 8 * j + r] = src[192 + j];
                Q6KCodes(src, q);
                for (int i = 0; i < 256; i++)
                {
                    (int low, int lowShift, int high, int highShift) = Q6KBits(r, i);
                    p[low] |= (byte)((q[i] & 0xF) << lowShift);
                    p[high] |= (byte)((q[i] >> 4) << highShift);
                }
            }
        }
    }

    /// <summary>A ggml Q6_K block's 256 codes (0..63, the value being <c>d · scale · (code - 32)</c>), as <c>dequantize_row_q6_K</c> assembles them.</summary>
    private static void Q6KCodes(ReadOnlySpan<byte> block, Span<byte> q)
    {
        ReadOnlySpan<byte> ql = block[..128], qh = block.Slice(128, 64);
        for (int n = 0; n < 256; n += 128, ql = ql[64..], qh = qh[32..])
        {
            for (int l = 0; l < 32; l++)
            {
                q[n + l] = (byte)((ql[l] & 0xF) | (qh[l] & 3) << 4);
                q[n + l + 32] = (byte)((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4);
                q[n + l + 64] = (byte)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
                q[n + l + 96] = (byte)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
            }
        }
    }

    /// <summary>Where the low four and the top two bits of column <paramref name="i"/> of panel row <paramref name="r"/> sit in a Q6_K panel's block, and their shifts.</summary>
    private static (int Low, int LowShift, int High, int HighShift) Q6KBits(int r, int i)
    {
        int h = i / 32, g = i % 32 / 4, k = i % 4, c = g % 4;
        return (144 + 192 * h + 32 * c + 4 * r + k, 4 * (g / 4), 144 + 192 * h + 128 + 32 * (g / 4) + 4 * r + k, 2 * c);
    }

    /// <summary>
    /// One super-block of a Q6_K row, from its panel or the rows past them: its 256 codes (0..63), the sixteen
    /// sub-blocks' int8 scales, and d.
    /// </summary>
    internal void Q6KRowBlock(int row, int b, Span<byte> q, Span<sbyte> scales, out float d)
    {
        if (row < PanelRowCount)
        {
            ReadOnlySpan<byte> p = Data.AsSpan(row / PanelRows * PanelBytes + b * Q6KPanelBlockBytes, Q6KPanelBlockBytes);
            int r = row % PanelRows;
            d = IntegerBlocks.FromHalf(BitConverter.ToUInt16(p[(2 * r)..]));
            for (int j = 0; j < 16; j++) scales[j] = (sbyte)p[16 + 8 * j + r];
            for (int i = 0; i < 256; i++)
            {
                (int low, int lowShift, int high, int highShift) = Q6KBits(r, i);
                q[i] = (byte)(((p[low] >> lowShift) & 0xF) | ((p[high] >> highShift) & 3) << 4);
            }
            return;
        }
        ReadOnlySpan<byte> src = Data.AsSpan(TailStart + (row - PanelRowCount) * RowBytes + b * 210, 210);
        d = IntegerBlocks.FromHalf(BitConverter.ToUInt16(src[208..]));
        for (int j = 0; j < 16; j++) scales[j] = (sbyte)src[192 + j];
        Q6KCodes(src, q);
    }

    /// <summary>Where column <paramref name="i"/> (of a super-block) of panel row <paramref name="r"/> sits in a Q4_K panel's block: the byte and the nibble's shift.</summary>
    private static (int At, int Shift) Q4KNibble(int r, int i)
    {
        int j = i / 32, g = i % 32 / 4, k = i % 4;
        return (160 + 128 * j + 32 * (g % 4) + 4 * r + k, 4 * (g / 4));
    }

    /// <summary>
    /// One super-block of a Q4_K row, from its panel or the rows past them: its 256 codes (0..15), the eight sub-blocks'
    /// scales and minima, d and dmin.
    /// </summary>
    internal void Q4KRowBlock(int row, int b, Span<byte> q, Span<byte> scales, Span<byte> mins, out float d, out float dmin)
    {
        if (row < PanelRowCount)
        {
            ReadOnlySpan<byte> p = Data.AsSpan(row / PanelRows * PanelBytes + b * Q4KPanelBlockBytes, Q4KPanelBlockBytes);
            int r = row % PanelRows;
            d = IntegerBlocks.FromHalf(BitConverter.ToUInt16(p[(2 * r)..]));
            dmin = IntegerBlocks.FromHalf(BitConverter.ToUInt16(p[(16 + 2 * r)..]));
            for (int j = 0; j < 8; j++)
            {
                scales[j] = p[32 + 8 * j + r];
                mins[j] = p[96 + 8 * j + r];
            }
            for (int i = 0; i < 256; i++)
            {
                (int at, int shift) = Q4KNibble(r, i);
                q[i] = (byte)((p[at] >> shift) & 0xF);
            }
            return;
        }
        ReadOnlySpan<byte> src = Data.AsSpan(TailStart + (row - PanelRowCount) * RowBytes + b * 144, 144);
        d = IntegerBlocks.FromHalf(BitConverter.ToUInt16(src));
        dmin = IntegerBlocks.FromHalf(BitConverter.ToUInt16(src[2..]));
        for (int j = 0; j < 8; j++) (scales[j], mins[j]) = ((byte)GgmlQuants.ScaleMin(j, src.Slice(4, 12)).Scale, (byte)GgmlQuants.ScaleMin(j, src.Slice(4, 12)).Min);
        for (int i = 0; i < 256; i++) q[i] = (byte)(i % 64 < 32 ? src[16 + 32 * (i / 64) + i % 32] & 0xF : src[16 + 32 * (i / 64) + i % 32] >> 4);
    }

    /// <summary>
    /// The type llama.cpp's <c>llama-quantize</c> gives a matrix in a Q4_K_M file (<c>llama_tensor_get_type</c>, for
    /// the llama-family architectures without an importance matrix): Q6_K for the classifier (the token embedding when
    /// it is tied) and for the value and down projections of the layers <c>use_more_bits</c> picks (the first and last
    /// eighth and every third between), Q4_K for the rest; a row that is not whole blocks of 256 falls back to Q8_0
    /// (the classifier), Q8_0 (for Q6_K) or Q5_0 (for Q4_K).
    /// </summary>
    /// <param name="role">What the matrix is.</param>
    /// <param name="layer">Its layer (ignored for the embedding and the classifier).</param>
    /// <param name="layers">The layers of the model.</param>
    /// <param name="cols">Its row length.</param>
    public static GgmlType Q4KMType(MatrixRole role, int layer, int layers, int cols)
    {
        bool whole = cols % 256 == 0;
        bool moreBits = layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
        return role switch
        {
            MatrixRole.Classifier => whole ? GgmlType.Q6_K : GgmlType.Q8_0,
            MatrixRole.Value or MatrixRole.Down when moreBits => whole ? GgmlType.Q6_K : GgmlType.Q8_0,
            _ => whole ? GgmlType.Q4_K : GgmlType.Q5_0,
        };
    }

    /// <summary>Whether the generated kernels multiply matrices of <paramref name="type"/> as they are.</summary>
    public static bool IsKernelType(GgmlType type) => type is GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.Q5_0 or GgmlType.Q4_0 or GgmlType.Q8_0;

    /// <summary>The first block (in storage order) whose float16 scale, or Q4_K's minimum's scale, is not finite, or -1 when every one is.</summary>
    public long FirstNonFiniteScale()
    {
        int panelBlock = PanelBlockBytes(Type), halves = Type == GgmlType.Q4_K ? 2 * PanelRows : PanelRows, blocksPerRow = Cols / GgmlQuants.BlockOf(Type).Block;
        for (int p = 0; p < PanelRowCount / PanelRows; p++)
            for (int b = 0; b < blocksPerRow; b++)
                for (int h = 0; h < halves; h++)
                    if (!Half.IsFinite(BitConverter.ToHalf(Data, p * PanelBytes + b * panelBlock + 2 * h))) return (long)p * blocksPerRow + b;
        (int block, int bytes) = GgmlQuants.BlockOf(Type);
        int at = Type == GgmlType.Q6_K ? 208 : 0;
        long first = (long)PanelRowCount * Cols / block, blocks = (long)(Rows - PanelRowCount) * Cols / block;
        for (long b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> s = Data.AsSpan(TailStart + (int)(b * bytes));
            if (!Half.IsFinite(BitConverter.ToHalf(s[at..])) || (Type == GgmlType.Q4_K && !Half.IsFinite(BitConverter.ToHalf(s[2..])))) return first + b;
        }
        return -1;
    }

    /// <summary>Row <paramref name="row"/> dequantised as ggml's <c>dequantize_row_*</c> does, into <paramref name="destination"/>: an embedding lookup.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The row is outside the matrix.</exception>
    /// <exception cref="ArgumentException">The destination is shorter than a row.</exception>
    public void RowValues(int row, Span<float> destination)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"The matrix has {Rows} rows.");
        if (destination.Length < Cols) throw new ArgumentException($"A row holds {Cols} values; the destination holds {destination.Length}.", nameof(destination));
        if (row < PanelRowCount && Type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0)
        {
            Span<byte> q = stackalloc byte[32];
            int offset = Block32Offset(Type);
            for (int b = 0; b < Cols / 32; b++)
            {
                Block32RowBlock(row, b, q, out float d);
                for (int i = 0; i < 32; i++) destination[32 * b + i] = (q[i] - offset) * d; // dequantize_row_q*_0's order
            }
            return;
        }
        if (row < PanelRowCount && Type == GgmlType.Q6_K)
        {
            Span<byte> q = stackalloc byte[256];
            Span<sbyte> scales = stackalloc sbyte[16];
            for (int b = 0; b < Cols / 256; b++)
            {
                Q6KRowBlock(row, b, q, scales, out float d);
                for (int i = 0; i < 256; i++) destination[256 * b + i] = d * scales[i / 16] * (q[i] - 32); // dequantize_row_q6_K's order
            }
            return;
        }
        if (row < PanelRowCount)
        {
            Span<byte> q = stackalloc byte[256], scales = stackalloc byte[8], mins = stackalloc byte[8];
            for (int b = 0; b < Cols / 256; b++)
            {
                Q4KRowBlock(row, b, q, scales, mins, out float d, out float dmin);
                for (int j = 0; j < 8; j++)
                {
                    float d1 = d * scales[j], m1 = dmin * mins[j]; // dequantize_row_q4_K's order
                    for (int i = 0; i < 32; i++) destination[256 * b + 32 * j + i] = d1 * q[32 * j + i] - m1;
                }
            }
            return;
        }
        (int block, int bytes) = GgmlQuants.BlockOf(Type);
        ReadOnlySpan<byte> blocks = Data.AsSpan(TailStart + (row - PanelRowCount) * RowBytes, RowBytes);
        for (int b = 0; b < Cols / block; b++)
            GgmlQuants.Dequantize(Type, blocks.Slice(b * bytes, bytes), destination.Slice(b * block, block));
    }
}

/// <summary>What a matrix is to llama.cpp's Q4_K_M rules (<see cref="BlockMatrix.Q4KMType"/>).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public enum MatrixRole
{
    /// <summary>A projection with no rule of its own (q, k, o, gate, up), and an untied token embedding.</summary>
    Projection,

    /// <summary>A layer's value projection (<c>attn_v</c>).</summary>
    Value,

    /// <summary>A layer's down projection (<c>ffn_down</c>).</summary>
    Down,

    /// <summary>The classifier (<c>output</c>), or the token embedding of a tied model, which is it.</summary>
    Classifier,
}
