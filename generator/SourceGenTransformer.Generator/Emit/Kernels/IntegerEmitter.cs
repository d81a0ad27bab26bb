using System;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Kernels;

/// <summary>
/// The kernels of Q4_0 matrices, which multiply in integers as llama.cpp does: the input is quantised to 8 bits per
/// block of 32 (<c>IntegerBlocks.Quantize</c>, ggml's Q8_0) on the stack, each weight block is unpacked to 32 signed
/// bytes, and per pair of blocks the exact integer dot product is converted to float32 once and scaled by the product
/// of the two scales. Every output is one chain of such terms computed by one worker, so any split of the rows (any
/// thread count) gives the same bits.
/// </summary>
internal static class IntegerEmitter
{
    private const string Blocks = "IntegerBlocks";

    /// <summary>
    /// xout = W @ x over rows [rowStart, rowEnd): the prompt kernel's tiles for one token (four rows, four chains, then
    /// one row), so an output sums its blocks in the same order, to the same bits, in decoding and in a prompt block.
    /// </summary>
    public static void EmitMatVec(SourceWriter w, int d, int n, string name)
    {
        using (MatVecEmitter.Head(w, d, n, Precision.Q4_0, 32, name,
            "The input is quantised to Q8_0 blocks on the stack, then four rows at a time multiply their blocks by it in integers, one chain per row in block order.",
            "W Q4_0 blocks of 32 (16 bytes each, one scale per block) row-major. Rows are independent"))
        {
            w.Line($"const int Blocks = {I(n / 32)};");
            w.Line($"Span<sbyte> xq = stackalloc sbyte[Cols];");
            w.Line($"{Span} xs = stackalloc float[Blocks];");
            w.Line($"{Blocks}.Quantize(x[..Cols], xq, xs);");
            w.Line($"ref sbyte xqRef = ref {Marshal}.GetReference(xq);");
            w.Line($"ref float xsRef = ref {Marshal}.GetReference(xs);");
            w.Line("int r = rowStart;");
            using (w.Block("for (; r + 4 <= rowEnd; r += 4)")) Tile(w, 4, 1, vector: true);
            using (w.Block("for (; r < rowEnd; r++)")) Tile(w, 1, 1, vector: true);
        }
        w.Line();
    }

    /// <summary>The tokens whose quantised input one pass keeps on the stack: at most 64 KiB of it, 4 to 32 tokens.</summary>
    public static int TokenChunk(int n) => Math.Max(4, Math.Min(32, 65536 / n / 4 * 4));

    /// <summary>xout (tokens x d)[:, rowStart..rowEnd) = x @ Wᵀ: tiles of four weight rows by four tokens, sixteen chains.</summary>
    public static void EmitMatMul(SourceWriter w, int d, int n)
    {
        string name = KernelNames.MatMul(d, n);
        int blocks = n / 32, chunk = TokenChunk(n);
        w.Line($"/// <summary>xout (tokens x {I(d)})[:, rowStart..rowEnd) = x (tokens x {I(n)}) @ W ({I(d)} x {I(n)})ᵀ, for those rows of W; W Q4_0 blocks, row-major.</summary>");
        w.Line($"/// <remarks>{I(chunk)} tokens at a time are quantised to Q8_0 blocks on the stack; over them, four weight rows by four tokens per pass:");
        w.Line("/// each weight block is unpacked once for four tokens, sixteen chains of integer block products. Rows outside, tokens inside.</remarks>");
        using (w.Block($"internal static void {name}({Span} xout, {ReadOnlySpan} x, {MatrixParameters(Precision.Q4_0)}, int tokens, int rowStart, int rowEnd)"))
        {
            w.Line($"const int Out = {I(d)}, In = {I(n)}, Blocks = {I(blocks)}, Chunk = {I(chunk)};");
            Guard(w, name, "tokens < 0", "xout.Length < tokens * Out", "x.Length < tokens * In", "w.Length < Out * In / 2", "scales.Length < Out * Blocks", "rowStart < 0", "rowEnd > Out");
            w.Line($"Span<sbyte> xq = stackalloc sbyte[Chunk * In];");
            w.Line($"{Span} xs = stackalloc float[Chunk * Blocks];");
            Refs(w, "xout");
            WeightRefs(w, Precision.Q4_0);
            w.Line($"ref sbyte xqRef = ref {Marshal}.GetReference(xq);");
            w.Line($"ref float xsRef = ref {Marshal}.GetReference(xs);");
            using (w.Block("for (int t0 = 0; t0 < tokens; t0 += Chunk)"))
            {
                w.Line("int count = Math.Min(Chunk, tokens - t0);");
                w.Line("for (int k = 0; k < count; k++)");
                w.Line($"    {Blocks}.Quantize(x.Slice((t0 + k) * In, In), xq.Slice(k * In, In), xs.Slice(k * Blocks, Blocks));");
                w.Line("int r = rowStart;");
                foreach (int rows in new[] { 4, 1 })
                {
                    using (w.Block(rows == 1 ? "for (; r < rowEnd; r++)" : $"for (; r + {I(rows)} <= rowEnd; r += {I(rows)})"))
                    {
                        w.Line("int t = 0;");
                        using (w.Block("for (; t + 4 <= count; t += 4)")) Tile(w, rows, 4, vector: false);
                        using (w.Block("for (; t < count; t++)")) Tile(w, rows, 1, vector: false);
                    }
                }
            }
        }
        w.Line();
    }

    /// <summary>
    /// Rows r.. by tokens t.. (of the chunk from t0): per output one chain, over the blocks in order, of
    /// <c>Dot(weights, input) · (weight scale · input scale)</c>. For a <paramref name="vector"/> the one token is x itself.
    /// </summary>
    private static void Tile(SourceWriter w, int rows, int tokens, bool vector)
    {
        string List(string prefix, int count, string first, string step)
        {
            var parts = new string[count];
            for (int k = 0; k < count; k++) parts[k] = k == 0 ? $"{prefix}0 = {first}" : $"{prefix}{I(k)} = {prefix}{I(k - 1)} + {step}";
            return "nuint " + string.Join(", ", parts) + ";";
        }
        w.Line(List("w", rows, "(nuint)r * Blocks", "Blocks"));
        w.Line(List("x", tokens, vector ? "0" : "(nuint)t * Blocks", "Blocks"));
        for (int m = 0; m < rows; m++)
            for (int k = 0; k < tokens; k++)
                w.Line($"{VectorF} a{m}{k} = {VectorF}.Zero;");
        using (w.Block("for (nuint b = 0; b < Blocks; b++)"))
        {
            for (int m = 0; m < rows; m++)
                w.Line($"{Vector}<sbyte> wv{m} = {Blocks}.LoadQ4_0(ref wRef, (w{m} + b) * 16); float ws{m} = {Unsafe}.Add(ref scalesRef, w{m} + b);");
            for (int k = 0; k < tokens; k++)
            {
                w.Line($"{Vector}<sbyte> xv{k} = {Blocks}.Load(ref xqRef, (x{k} + b) * 32); float xs{k} = {Unsafe}.Add(ref xsRef, x{k} + b);");
                for (int m = 0; m < rows; m++)
                    w.Line($"a{m}{k} = {Fma($"{Blocks}.Dot(wv{m}, xv{k})", $"{Vector}.Create(ws{m} * xs{k})", $"a{m}{k}")};");
            }
        }
        for (int m = 0; m < rows; m++)
            for (int k = 0; k < tokens; k++)
                w.Line(vector
                    ? $"{Unsafe}.Add(ref xoutRef, {Plus("r", m)}) = {Vector}.Sum(a{m}{k});"
                    : $"{Unsafe}.Add(ref xoutRef, (t0 + t{(k == 0 ? "" : " + " + I(k))}) * Out + {Plus("r", m)}) = {Vector}.Sum(a{m}{k});");
    }
}
