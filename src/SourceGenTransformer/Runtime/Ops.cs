using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The operations generated engines share that depend on no shape: a softmax over however many positions are attended,
/// and the elementwise steps a prompt block runs on one worker's rows (any range). Vector256 with scalar tails, exactly
/// the code the generator used to emit into every model.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Ops
{
    /// <summary>x = softmax(x), in place; the length (positions attended) is known only at run time.</summary>
    public static void Softmax(Span<float> x)
    {
        int n = x.Length;
        ref float xRef = ref MemoryMarshal.GetReference(x);
        nuint vectorEnd = (nuint)(n - n % 8);
        // Subtract the maximum before exponentiating, for numerical stability.
        Vector256<float> mv = Vector256.Create(float.NegativeInfinity);
        for (nuint j = 0; j < vectorEnd; j += 8) mv = Vector256.Max(mv, Vector256.LoadUnsafe(ref xRef, j));
        float max = float.NegativeInfinity;
        for (int k = 0; k < 8; k++) max = MathF.Max(max, Vector256.GetElement(mv, k));
        for (nuint j = vectorEnd; j < (nuint)n; j++) max = MathF.Max(max, Unsafe.Add(ref xRef, j));
        // e = exp(x - max); sum the e.
        mv = Vector256.Create(max);
        Vector256<float> sv = Vector256<float>.Zero;
        for (nuint j = 0; j < vectorEnd; j += 8)
        {
            Vector256<float> e = Vector256.Exp(Vector256.LoadUnsafe(ref xRef, j) - mv);
            Vector256.StoreUnsafe(e, ref xRef, j);
            sv += e;
        }
        float sum = Vector256.Sum(sv);
        for (nuint j = vectorEnd; j < (nuint)n; j++)
        {
            float e = MathF.Exp(Unsafe.Add(ref xRef, j) - max);
            Unsafe.Add(ref xRef, j) = e;
            sum += e;
        }
        // Normalise.
        float inv = 1f / sum;
        Vector256<float> iv = Vector256.Create(inv);
        for (nuint j = 0; j < vectorEnd; j += 8) Vector256.StoreUnsafe(Vector256.LoadUnsafe(ref xRef, j) * iv, ref xRef, j);
        for (nuint j = vectorEnd; j < (nuint)n; j++) Unsafe.Add(ref xRef, j) *= inv;
    }

    /// <summary>y += x over y's length (a worker's rows of one token).</summary>
    public static void AddRows(Span<float> y, ReadOnlySpan<float> x)
    {
        if (x.Length < y.Length) TransformerErrors.SpanTooShort(nameof(AddRows));
        ref float yRef = ref MemoryMarshal.GetReference(y);
        ref float xRef = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)y.Length, j = 0;
        for (; j + 8 <= n; j += 8) Vector256.StoreUnsafe(Vector256.LoadUnsafe(ref yRef, j) + Vector256.LoadUnsafe(ref xRef, j), ref yRef, j);
        for (; j < n; j++) Unsafe.Add(ref yRef, j) += Unsafe.Add(ref xRef, j);
    }

    /// <summary>
    /// h = gelu_tanh(h) * g over h's length (Gemma's GeGLU; a worker's rows of one token), with
    /// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))) and tanh(u) = 1 - 2 / (e^(2u) + 1), exact at both tails.
    /// </summary>
    public static void GeGluRows(Span<float> h, ReadOnlySpan<float> g) => GatedRows<GeluTanhGate>(h, g, nameof(GeGluRows));

    /// <summary>h = silu(h) * g over h's length (a worker's rows of one token), silu(x) = x / (1 + e^-x).</summary>
    public static void SwiGluRows(Span<float> h, ReadOnlySpan<float> g) => GatedRows<SiluGate>(h, g, nameof(SwiGluRows));

    /// <summary>A gated MLP's activation of the gate, on 8 lanes.</summary>
    private interface IGate
    {
        static abstract Vector256<float> Apply(Vector256<float> v);
    }

    private readonly struct SiluGate : IGate
    {
        public static Vector256<float> Apply(Vector256<float> v) => v / (Vector256<float>.One + Vector256.Exp(-v));
    }

    private readonly struct GeluTanhGate : IGate
    {
        public static Vector256<float> Apply(Vector256<float> v)
        {
            Vector256<float> u = Vector256.Create(0.7978845608028654f) * (v + Vector256.Create(0.044715f) * v * v * v);
            Vector256<float> two = Vector256.Create(2f);
            Vector256<float> t = Vector256<float>.One - two / (Vector256.Exp(two * u) + Vector256<float>.One);
            return Vector256.Create(0.5f) * v * (Vector256<float>.One + t);
        }
    }

    /// <summary>h = gate(h) * g, 8 at a time (specialised per gate: no call per vector).</summary>
    private static void GatedRows<TGate>(Span<float> h, ReadOnlySpan<float> g, string name) where TGate : struct, IGate
    {
        if (g.Length < h.Length) TransformerErrors.SpanTooShort(name);
        ref float hRef = ref MemoryMarshal.GetReference(h);
        ref float gRef = ref MemoryMarshal.GetReference(g);
        nuint n = (nuint)h.Length, j = 0;
        for (; j + 8 <= n; j += 8)
            Vector256.StoreUnsafe(TGate.Apply(Vector256.LoadUnsafe(ref hRef, j)) * Vector256.LoadUnsafe(ref gRef, j), ref hRef, j);
        // The last n % 8 through one more vector too: every element gets the same vector arithmetic wherever a
        // worker's rows start or end, so the result does not depend on how the rows were split.
        if (j < n)
        {
            Vector256<float> v = Vector256<float>.Zero, gv = Vector256<float>.Zero;
            for (nuint k = j; k < n; k++) { v = Vector256.WithElement(v, (int)(k - j), Unsafe.Add(ref hRef, k)); gv = Vector256.WithElement(gv, (int)(k - j), Unsafe.Add(ref gRef, k)); }
            Vector256<float> r = TGate.Apply(v) * gv;
            for (nuint k = j; k < n; k++) Unsafe.Add(ref hRef, k) = Vector256.GetElement(r, (int)(k - j));
        }
    }
}
