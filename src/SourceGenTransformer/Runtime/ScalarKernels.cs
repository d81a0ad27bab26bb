using System.ComponentModel;
using System;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// Plain-loop reference kernels: the readable statement of each kernel's math, and the scalar
/// twins that the generated Vector256 kernels are tested against.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class ScalarKernels
{
    // ---------------------------------------------------------------- linear algebra

    /// <summary>xout (d) = W (d x n) @ x (n); W row-major.</summary>
    public static void MatVec(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d)
    {
        for (int i = 0; i < d; i++)
        {
            float sum = 0f;
            for (int j = 0; j < n; j++) sum += w[i * n + j] * x[j];
            xout[i] = sum;
        }
    }

    /// <summary>Dot product of a (n) and b (n).</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float sum = 0f;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y (n) += a * x (n).</summary>
    public static void Axpy(Span<float> y, float a, ReadOnlySpan<float> x)
    {
        for (int i = 0; i < y.Length; i++) y[i] += a * x[i];
    }

    /// <summary>y (n) += x (n).</summary>
    public static void Add(Span<float> y, ReadOnlySpan<float> x)
    {
        for (int i = 0; i < y.Length; i++) y[i] += x[i];
    }

    // ---------------------------------------------------------------- normalisation

    /// <summary>o (n) = x / sqrt(mean(x²) + eps) * w.</summary>
    public static void RmsNorm(Span<float> o, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps)
    {
        float ss = 0f;
        for (int i = 0; i < x.Length; i++) ss += x[i] * x[i];
        float scale = 1f / MathF.Sqrt(ss / x.Length + eps);
        for (int i = 0; i < x.Length; i++) o[i] = w[i] * (x[i] * scale);
    }

    /// <summary>o (n) = (x - mean(x)) / sqrt(var(x) + eps) * w + b, with the biased variance.</summary>
    public static void LayerNorm(Span<float> o, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, float eps)
    {
        float mean = 0f;
        for (int i = 0; i < x.Length; i++) mean += x[i];
        mean /= x.Length;
        float variance = 0f;
        for (int i = 0; i < x.Length; i++) variance += (x[i] - mean) * (x[i] - mean);
        variance /= x.Length;
        float scale = 1f / MathF.Sqrt(variance + eps);
        for (int i = 0; i < x.Length; i++) o[i] = (x[i] - mean) * scale * w[i] + b[i];
    }

    /// <summary>x = softmax(x), in place, max subtracted first for numerical stability.</summary>
    public static void Softmax(Span<float> x) => Sampling.Softmax(x);

    // ---------------------------------------------------------------- positions

    /// <summary>
    /// Rotary embedding, rotate-half convention, of <paramref name="heads"/> heads of
    /// <paramref name="headDim"/> each in v, at position pos: for i &lt; headDim/2, the pair
    /// (v[i], v[i + headDim/2]) turns by pos * theta^(-2i/headDim).
    /// </summary>
    public static void Rope(Span<float> v, int heads, int headDim, int pos, float theta)
    {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
        {
            Span<float> head = v.Slice(h * headDim, headDim);
            for (int i = 0; i < half; i++)
            {
                float invFreq = 1f / MathF.Pow(theta, 2 * i / (float)headDim);
                float angle = pos * invFreq;
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                float x1 = head[i], x2 = head[i + half];
                head[i] = x1 * c - x2 * s;
                head[i + half] = x2 * c + x1 * s;
            }
        }
    }

    // ---------------------------------------------------------------- activations

    /// <summary>h (n) = silu(h) * g, silu(x) = x / (1 + e^-x).</summary>
    public static void SwiGlu(Span<float> h, ReadOnlySpan<float> g)
    {
        for (int i = 0; i < h.Length; i++) h[i] = h[i] / (1f + MathF.Exp(-h[i])) * g[i];
    }

    /// <summary>x (n) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).</summary>
    public static void GeluTanh(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            x[i] = 0.5f * v * (1f + MathF.Tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
    }

    /// <summary>x (n) = x Φ(x) = 0.5 x (1 + erf(x / sqrt 2)).</summary>
    public static void Gelu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = 0.5f * x[i] * (1f + Erf(x[i] * 0.7071067811865476f));
    }

    /// <summary>x (n) = max(0, x).</summary>
    public static void Relu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Max(0f, x[i]);
    }

    /// <summary>
    /// The error function to about 1e-7 absolute: Abramowitz and Stegun 7.1.26 evaluated in double
    /// (.NET has no Math.Erf).
    /// </summary>
    public static float Erf(float x)
    {
        double ax = Math.Abs((double)x);
        double t = 1.0 / (1.0 + 0.3275911 * ax);
        double poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        double y = 1.0 - poly * Math.Exp(-ax * ax);
        return (float)(x < 0 ? -y : y);
    }
}
