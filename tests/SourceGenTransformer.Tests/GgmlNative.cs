using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using LLama.Native;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// ggml itself, as llama.cpp ships it inside LLamaSharp's CPU backend (a test-only dependency): the library
/// <c>libggml-base</c> that LLamaSharp loaded beside <c>libllama</c>, found in this process's memory map, and two of its
/// exported functions, <c>ggml_quantize_chunk</c> (what <c>llama-quantize</c> calls per tensor) and the
/// <c>to_float</c> of <c>ggml_get_type_traits</c> (ggml's dequantisation). The oracle of <see cref="GgmlQuants"/>.
/// </summary>
internal static unsafe class GgmlNative
{
    private static readonly object Gate = new();
    private static bool _llamaLoaded;

    /// <summary>Loads LLamaSharp's native libraries once per process, llama.cpp's log silenced (its configuration is only possible before the load).</summary>
    public static void EnsureLlamaLoaded()
    {
        lock (Gate)
        {
            if (_llamaLoaded) return;
            NativeLibraryConfig.All.WithLogCallback((_, _) => { });
            NativeApi.llama_empty_call(); // LLamaSharp picks and loads its native libraries (libggml-base among them)
            _llamaLoaded = true;
        }
    }

    // After Gate: static fields are initialised in the order they are written.
    private static readonly nint Library = Load();

    private static nint Load()
    {
        EnsureLlamaLoaded();
        string? path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && f[5].EndsWith("/libggml-base.so", StringComparison.Ordinal)).Select(f => f[5]).FirstOrDefault();
        Assert.True(path is not null, "LLamaSharp loaded no libggml-base.so into this process");
        return NativeLibrary.Load(path!);
    }

    /// <summary><c>ggml_quantize_chunk(type, src, dst, 0, rows, cols, NULL)</c>: rows of float32 into the type's blocks.</summary>
    public static byte[] Quantize(GgmlType type, ReadOnlySpan<float> values, int rows, int cols)
    {
        var f = (delegate* unmanaged<int, float*, byte*, long, long, long, float*, nuint>)NativeLibrary.GetExport(Library, "ggml_quantize_chunk");
        var result = new byte[rows * GgmlQuants.RowBytes(type, cols)];
        fixed (float* src = values)
        fixed (byte* dst = result)
        {
            nuint written = f((int)type, src, dst, 0, rows, cols, null);
            Assert.Equal((nuint)result.Length, written);
        }
        return result;
    }

    /// <summary>
    /// ggml's type traits of type id <paramref name="type"/>: <c>struct ggml_type_traits { const char * type_name;
    /// int64_t blck_size; int64_t blck_size_interleave; size_t type_size; bool is_quantized; ggml_to_float_t to_float;
    /// ggml_from_float_t from_float_ref; }</c>. The layout is checked against what is known of the type (its name, block
    /// and bytes) before a function pointer in it is trusted.
    /// </summary>
    private static byte* Traits(int type, string name, int block, int bytes)
    {
        var traits = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(Library, "ggml_get_type_traits");
        byte* t = traits(type);
        Assert.Equal(name.ToLowerInvariant(), Marshal.PtrToStringUTF8(*(nint*)t)!.ToLowerInvariant());
        Assert.Equal(block, *(long*)(t + 8));
        Assert.Equal((nuint)bytes, *(nuint*)(t + 24));
        return t;
    }

    /// <summary>
    /// ggml's Q8_K of <paramref name="x"/> (its exported <c>quantize_row_q8_K_ref</c>, what llama.cpp runs on x86): per
    /// block of 256, a float32 scale, 256 codes and 16 sums of 16 codes.
    /// </summary>
    public static (float[] Scales, sbyte[] Codes, short[] Sums) QuantizeQ8K(ReadOnlySpan<float> x)
    {
        const int Bytes = 4 + 256 + 32;
        Traits(15, "q8_K", 256, Bytes); // the block's size, as ggml declares it
        var fromFloat = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(Library, "quantize_row_q8_K_ref");
        int blocks = x.Length / 256;
        var raw = new byte[blocks * Bytes];
        fixed (float* src = x)
        fixed (byte* dst = raw)
            fromFloat(src, dst, x.Length);
        var scales = new float[blocks];
        var codes = new sbyte[x.Length];
        var sums = new short[blocks * 16];
        for (int b = 0; b < blocks; b++)
        {
            scales[b] = BitConverter.ToSingle(raw, b * Bytes);
            for (int i = 0; i < 256; i++) codes[b * 256 + i] = (sbyte)raw[b * Bytes + 4 + i];
            for (int j = 0; j < 16; j++) sums[b * 16 + j] = BitConverter.ToInt16(raw, b * Bytes + 260 + 2 * j);
        }
        return (scales, codes, sums);
    }

    /// <summary>ggml's own dequantisation of <paramref name="blocks"/> (its type traits' <c>to_float</c>).</summary>
    public static float[] Dequantize(GgmlType type, ReadOnlySpan<byte> blocks, int count)
    {
        (int block, int bytes) = GgmlQuants.BlockOf(type);
        byte* t = Traits((int)type, type.ToString(), block, bytes);
        var toFloat = (delegate* unmanaged<byte*, float*, long, void>)*(nint*)(t + 40);
        var values = new float[count];
        fixed (byte* x = blocks)
        fixed (float* y = values)
            toFloat(x, y, count);
        return values;
    }
}
