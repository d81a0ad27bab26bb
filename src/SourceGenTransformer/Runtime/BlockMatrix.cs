using System;
using System.ComponentModel;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// One weight matrix of a <see cref="WeightPrecision.Q4K"/> model: (<see cref="Rows"/>, <see cref="Cols"/>) in one of
/// ggml's block types, row-major, each row's blocks byte for byte as a GGUF file stores them. Each matrix carries its own
/// type (a Q4_K_M file mixes Q4_K with Q6_K, and rows that are not whole blocks of 256 fall back to Q5_0 or Q8_0), and
/// the generated kernels dispatch on it once per product (<c>BlockKernels</c>), never per block.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class BlockMatrix
{
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
        Data = WeightMemory.Allocate<byte>(checked(rows * RowBytes));
    }

    /// <summary>The ggml type every block of this matrix has.</summary>
    public GgmlType Type { get; }

    /// <summary>Output rows.</summary>
    public int Rows { get; }

    /// <summary>Columns (inputs) of each row: a whole number of the type's blocks.</summary>
    public int Cols { get; }

    /// <summary>Bytes of one row's blocks.</summary>
    public int RowBytes { get; }

    /// <summary>The rows' blocks, one row after another (Rows × RowBytes).</summary>
    public byte[] Data { get; }

    /// <summary>Bytes per weight, scales included (0.5625 for Q4_K and Q4_0, 0.8203 for Q6_K, 0.6875 for Q5_0, 1.0625 for Q8_0).</summary>
    public double BytesPerWeight => (double)RowBytes / Cols;

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

    /// <summary>The first block whose float16 scale (or Q4_K's minimum's scale) is not finite, or -1 when every one is.</summary>
    public long FirstNonFiniteScale()
    {
        (int block, int bytes) = GgmlQuants.BlockOf(Type);
        int at = Type == GgmlType.Q6_K ? 208 : 0;
        long blocks = (long)Rows * Cols / block;
        for (long b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> s = Data.AsSpan((int)(b * bytes));
            if (!Half.IsFinite(BitConverter.ToHalf(s[at..])) || (Type == GgmlType.Q4_K && !Half.IsFinite(BitConverter.ToHalf(s[2..])))) return b;
        }
        return -1;
    }

    /// <summary>Row <paramref name="row"/> dequantised (ggml's <c>dequantize_row_*</c>) into <paramref name="destination"/>: an embedding lookup.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The row is outside the matrix.</exception>
    /// <exception cref="ArgumentException">The destination is shorter than a row.</exception>
    public void RowValues(int row, Span<float> destination)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"The matrix has {Rows} rows.");
        if (destination.Length < Cols) throw new ArgumentException($"A row holds {Cols} values; the destination holds {destination.Length}.", nameof(destination));
        (int block, int bytes) = GgmlQuants.BlockOf(Type);
        ReadOnlySpan<byte> blocks = Data.AsSpan(row * RowBytes, RowBytes);
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
