using System;
using System.Numerics.Tensors;
using SourceGenTransformer;

namespace Benchmarks;

/// <summary>
/// The generic baseline: the same Llama forward pass as the generated engines, written once over runtime-sized
/// spans with System.Numerics.Tensors.TensorPrimitives and no generation. Benchmarks put it beside each generated
/// engine, so every row shows, as a ratio, what specialisation buys. Not part of the library.
/// </summary>
public sealed class GenericLlama
{
    private readonly int _layers, _dim, _ffn, _heads, _kvHeads, _headDim, _kvDim, _vocab, _maxSeq;
    private readonly float _eps = 1e-5f;
    private readonly float[] _emb, _attNorm, _wq, _wk, _wv, _wo, _ffnNorm, _w1, _w3, _w2, _norm, _cls; // as the generated Weights
    private readonly float[] _x, _xb, _xb2, _hb, _hb2, _gate, _q, _att, _logits, _keyCache, _valueCache, _cos, _sin;
    private int _pos;

    public GenericLlama(string path, int layers, int dim, int ffn, int heads, int vocab, int maxSeq)
    {
        (_layers, _dim, _ffn, _heads, _kvHeads, _vocab, _maxSeq) = (layers, dim, ffn, heads, heads, vocab, maxSeq);
        _headDim = dim / heads;
        _kvDim = _kvHeads * _headDim;
        using var file = SafetensorsFile.Open(path);
        float[] Read(string name, params long[] shape)
        {
            long n = 1;
            foreach (long d in shape) n *= d;
            var a = new float[n];
            file.ReadInto(name, shape, a);
            return a;
        }
        float[] Stack(string name, params long[] shape)
        {
            long n = 1;
            foreach (long d in shape) n *= d;
            var a = new float[n * layers];
            for (int l = 0; l < layers; l++) file.ReadInto($"model.layers.{l}.{name}", shape, a.AsSpan((int)(l * n), (int)n));
            return a;
        }
        _emb = Read("model.embed_tokens.weight", vocab, dim);
        _attNorm = Stack("input_layernorm.weight", dim);
        _wq = Stack("self_attn.q_proj.weight", dim, dim);
        _wk = Stack("self_attn.k_proj.weight", _kvDim, dim);
        _wv = Stack("self_attn.v_proj.weight", _kvDim, dim);
        _wo = Stack("self_attn.o_proj.weight", dim, dim);
        _ffnNorm = Stack("post_attention_layernorm.weight", dim);
        _w1 = Stack("mlp.gate_proj.weight", ffn, dim);
        _w3 = Stack("mlp.up_proj.weight", ffn, dim);
        _w2 = Stack("mlp.down_proj.weight", dim, ffn);
        _norm = Read("model.norm.weight", dim);
        _cls = Read("lm_head.weight", vocab, dim);
        (_x, _xb, _xb2, _q) = (new float[dim], new float[dim], new float[dim], new float[dim]);
        (_hb, _hb2, _gate, _logits) = (new float[ffn], new float[ffn], new float[ffn], new float[vocab]);
        _att = new float[heads * maxSeq];
        _keyCache = new float[layers * maxSeq * _kvDim];
        _valueCache = new float[layers * maxSeq * _kvDim];
        int half = _headDim / 2;
        (_cos, _sin) = (new float[maxSeq * half], new float[maxSeq * half]);
        for (int i = 0; i < half; i++)
        {
            float invFreq = 1f / MathF.Pow(10000f, 2 * i / (float)_headDim);
            for (int p = 0; p < maxSeq; p++)
            {
                _cos[p * half + i] = (float)Math.Cos(p * invFreq);
                _sin[p * half + i] = (float)Math.Sin(p * invFreq);
            }
        }
    }

    public int VocabSize => _vocab;

    public void Reset() => _pos = 0;

    private static void MatVec(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n)
    {
        for (int i = 0; i < xout.Length; i++) xout[i] = TensorPrimitives.Dot(w.Slice(i * n, n), x);
    }

    private void RmsNorm(Span<float> o, ReadOnlySpan<float> x, ReadOnlySpan<float> weight)
    {
        float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + _eps);
        TensorPrimitives.Multiply(x, scale, o);
        TensorPrimitives.Multiply(o, weight, o);
    }

    private void Rope(Span<float> v, int heads, int pos)
    {
        int half = _headDim / 2;
        ReadOnlySpan<float> c = _cos.AsSpan(pos * half, half), s = _sin.AsSpan(pos * half, half);
        for (int h = 0; h < heads; h++)
        {
            Span<float> head = v.Slice(h * _headDim, _headDim);
            for (int i = 0; i < half; i++)
            {
                float x1 = head[i], x2 = head[i + half];
                head[i] = x1 * c[i] - x2 * s[i];
                head[i + half] = x2 * c[i] + x1 * s[i];
            }
        }
    }

    /// <summary>Consumes one token and returns the next-token logits.</summary>
    public ReadOnlySpan<float> Forward(int token)
    {
        int d = _dim, pos = _pos;
        _emb.AsSpan(token * d, d).CopyTo(_x);
        float scale = 1f / MathF.Sqrt(_headDim);
        for (int l = 0; l < _layers; l++)
        {
            RmsNorm(_xb, _x, _attNorm.AsSpan(l * d, d));
            MatVec(_q, _xb, _wq.AsSpan(l * d * d, d * d), d);
            int row = (l * _maxSeq + pos) * _kvDim;
            Span<float> k = _keyCache.AsSpan(row, _kvDim);
            MatVec(k, _xb, _wk.AsSpan(l * _kvDim * d, _kvDim * d), d);
            MatVec(_valueCache.AsSpan(row, _kvDim), _xb, _wv.AsSpan(l * _kvDim * d, _kvDim * d), d);
            Rope(_q, _heads, pos);
            Rope(k, _kvHeads, pos);
            for (int h = 0; h < _heads; h++)
            {
                ReadOnlySpan<float> q = _q.AsSpan(h * _headDim, _headDim);
                Span<float> att = _att.AsSpan(h * _maxSeq, pos + 1);
                int kv = l * _maxSeq * _kvDim + h / (_heads / _kvHeads) * _headDim;
                for (int t = 0; t <= pos; t++) att[t] = TensorPrimitives.Dot(q, _keyCache.AsSpan(kv + t * _kvDim, _headDim)) * scale;
                TensorPrimitives.SoftMax(att, att);
                Span<float> o = _xb.AsSpan(h * _headDim, _headDim);
                o.Clear();
                for (int t = 0; t <= pos; t++) TensorPrimitives.MultiplyAdd(_valueCache.AsSpan(kv + t * _kvDim, _headDim), att[t], o, o);
            }
            MatVec(_xb2, _xb, _wo.AsSpan(l * d * d, d * d), d);
            TensorPrimitives.Add(_x, _xb2, _x);
            RmsNorm(_xb, _x, _ffnNorm.AsSpan(l * d, d));
            MatVec(_hb, _xb, _w1.AsSpan(l * _ffn * d, _ffn * d), d);
            MatVec(_hb2, _xb, _w3.AsSpan(l * _ffn * d, _ffn * d), d);
            // silu(h) * h2 = h * sigmoid(h) * h2
            TensorPrimitives.Sigmoid(_hb, _gate);
            TensorPrimitives.Multiply(_hb, _gate, _hb);
            TensorPrimitives.Multiply(_hb, _hb2, _hb);
            MatVec(_xb2, _hb, _w2.AsSpan(l * d * _ffn, d * _ffn), _ffn);
            TensorPrimitives.Add(_x, _xb2, _x);
        }
        _pos = pos + 1;
        RmsNorm(_x, _x, _norm);
        MatVec(_logits, _x, _cls, d);
        return _logits;
    }
}
