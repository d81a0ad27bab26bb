using System;
using System.Collections.Generic;
using System.Numerics.Tensors;

namespace SourceGenTransformer;

/// <summary>
/// Picks the next token from logits: greedy (temperature 0), or sampled with temperature,
/// top-k and top-p, from a seeded random state. Owns its scratch buffers, so picking a token
/// allocates nothing.
/// </summary>
public sealed class TokenSampler
{
    private readonly float[] _probs;  // (vocab) probabilities after temperature
    private readonly int[] _indices;  // (vocab) candidate ids, most likely first
    private readonly float[] _keys;   // (vocab) negated probabilities, the sort keys
    private readonly int[] _stop;     // stop tokens, copied once
    private readonly float _temperature;
    private readonly int _topK;
    private readonly float _topP;
    private ulong _rng;

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public TokenSampler(int vocabSize, GenerationOptions? options = null, int eosToken = -1)
        : this(vocabSize, options, eosToken >= 0 ? [eosToken] : ReadOnlySpan<int>.Empty)
    {
    }

    /// <summary>Creates a sampler that stops at any of <paramref name="eosTokens"/> (and the options' stop tokens).</summary>
    public TokenSampler(int vocabSize, GenerationOptions? options, ReadOnlySpan<int> eosTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        options ??= GenerationOptions.Default;
        options.Validate();
        _probs = new float[vocabSize];
        _indices = new int[vocabSize];
        _keys = new float[vocabSize];
        _temperature = options.Temperature;
        _topK = options.TopK;
        _topP = options.TopP;
        _rng = SamplerRandom.Seed(options.Seed ?? SamplerRandom.FreshSeed());

        var stop = new List<int>();
        foreach (int eos in eosTokens)
            if (eos >= 0) stop.Add(eos);
        if (options.StopTokens is not null) stop.AddRange(options.StopTokens);
        _stop = stop.ToArray();
    }

    /// <summary>Whether <paramref name="token"/> ends generation (the EOS token or one of the stop tokens).</summary>
    public bool IsStop(int token)
    {
        foreach (int s in _stop)
            if (s == token) return true;
        return false;
    }

    /// <summary>Picks the next token id from <paramref name="logits"/> (vocab).</summary>
    /// <exception cref="ArgumentException">There are not vocab logits.</exception>
    /// <exception cref="InvalidOperationException">A logit is NaN or infinite (the model's weights or inputs went wrong).</exception>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.Length != _probs.Length)
            throw new ArgumentException($"Expected {_probs.Length} logits, got {logits.Length}.", nameof(logits));
        if (_temperature == 0f || _topK == 1)
            return Sampling.Argmax(logits);
        Sampling.ThrowIfNotFinite(logits);

        // (logit - max) / T is 0 for the most likely token and at most 0 for the others, so a temperature small enough
        // to overflow the quotient sends the others to -infinity, probability 0: it samples as greedy does, never NaN.
        Span<float> probs = _probs;
        float max = TensorPrimitives.Max(logits);
        for (int i = 0; i < probs.Length; i++) probs[i] = (logits[i] - max) / _temperature;
        Sampling.Softmax(probs);
        float coin = SamplerRandom.NextFloat(ref _rng);

        if (_topK == 0 && _topP >= 1f)
            return Sampling.Multinomial(probs, coin);
        int n = Sampling.SelectCandidates(probs, _topK, _topP, _indices, _keys);
        if (n == 0) return Sampling.Argmax(logits); // p so small that only the most likely token can be the nucleus
        ReadOnlySpan<int> candidates = _indices.AsSpan(0, n);

        // Top-p applies to the distribution after top-k (renormalised); without top-k, to the whole one.
        float total = 1f;
        if (_topK > 0)
        {
            total = 0f;
            foreach (int id in candidates) total += probs[id];
        }
        return Sampling.SampleCandidates(probs, candidates, _topP, total, coin);
    }
}

/// <summary>Sampling functions: each is small, allocation-free, and takes its randomness explicitly.</summary>
public static class Sampling
{
    /// <summary>The index of the largest value; the first one on ties (as <c>torch.argmax</c>).</summary>
    /// <exception cref="InvalidOperationException">A value is NaN or infinite: no choice would mean anything.</exception>
    public static int Argmax(ReadOnlySpan<float> values)
    {
        ThrowIfNotFinite(values);
        int best = 0;
        float max = values[0];
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > max)
            {
                max = values[i];
                best = i;
            }
        }
        return best;
    }

    /// <summary>
    /// Throws <see cref="InvalidOperationException"/> naming the first NaN or infinite logit. A NaN from broken weights
    /// would otherwise pick token 0 forever, and an infinity the last token. One vectorised sum decides the common case:
    /// it is finite exactly when every value is, short of finite values so large their sum overflows, which the scan
    /// then clears.
    /// </summary>
    public static void ThrowIfNotFinite(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("There are no logits to choose from.", nameof(logits));
        if (float.IsFinite(TensorPrimitives.Sum(logits))) return;
        for (int i = 0; i < logits.Length; i++)
        {
            if (!float.IsFinite(logits[i]))
                throw new InvalidOperationException(
                    $"Logit {i} of {logits.Length} is {logits[i]}: the model produced a non-finite number, so no token can be chosen. " +
                    "Check the weights (ModelOptions.CheckFiniteWeights scans them at load) and the inputs.");
        }
    }

    /// <summary>x = softmax(x), in place; subtracts the maximum first for numerical stability.</summary>
    public static void Softmax(Span<float> x)
    {
        float max = x[0];
        for (int i = 1; i < x.Length; i++) max = MathF.Max(max, x[i]);
        float sum = 0f;
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = MathF.Exp(x[i] - max);
            sum += x[i];
        }
        float inv = 1f / sum;
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }

    /// <summary>Samples an index from <paramref name="probs"/> (summing to 1) with <paramref name="coin"/> in [0, 1).</summary>
    public static int Multinomial(ReadOnlySpan<float> probs, float coin)
    {
        float cdf = 0f;
        for (int i = 0; i < probs.Length; i++)
        {
            cdf += probs[i];
            if (coin < cdf) return i;
        }
        return probs.Length - 1; // rounding left the sum just under 1
    }

    /// <summary>
    /// Writes to <paramref name="indices"/> the candidate ids, most likely first: the
    /// <paramref name="topK"/> most likely when top-k is on, otherwise every id that can belong
    /// to the top-p nucleus. Returns how many were written.
    /// </summary>
    public static int SelectCandidates(ReadOnlySpan<float> probs, int topK, float topP, Span<int> indices, Span<float> keys)
    {
        // Without top-k, an id whose probability is below (1 - p) / (n - 1) can never be in the
        // nucleus: if any id is kept, the at most n - 1 dropped ones hold less than 1 - p. Dropping
        // them first keeps the sort small. (If none is kept, the caller falls back to argmax.)
        float cutoff = topK == 0 && probs.Length > 1 ? (1f - topP) / (probs.Length - 1) : 0f;
        int n = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] >= cutoff)
            {
                indices[n] = i;
                keys[n] = -probs[i]; // ascending sort on the negated value puts the most likely first
                n++;
            }
        }
        keys.Slice(0, n).Sort(indices.Slice(0, n));
        return topK > 0 ? Math.Min(topK, n) : n;
    }

    /// <summary>
    /// Samples among <paramref name="candidates"/> (most likely first), keeping the smallest
    /// prefix whose mass reaches <paramref name="topP"/> of <paramref name="total"/>, the mass of
    /// the distribution top-p applies to.
    /// </summary>
    public static int SampleCandidates(ReadOnlySpan<float> probs, ReadOnlySpan<int> candidates, float topP, float total, float coin)
    {
        // The nucleus: the shortest prefix whose mass reaches p of the total.
        int keep = candidates.Length;
        float kept = 0f;
        for (int i = 0; i < candidates.Length; i++)
        {
            kept += probs[candidates[i]];
            if (kept >= topP * total)
            {
                keep = i + 1;
                break;
            }
        }

        float r = coin * kept;
        float cdf = 0f;
        for (int i = 0; i < keep; i++)
        {
            cdf += probs[candidates[i]];
            if (r < cdf) return candidates[i];
        }
        return candidates[keep - 1];
    }
}

/// <summary>
/// The sampler's random numbers: xorshift64* seeded through SplitMix64. Defined here bit for bit
/// so the same seed gives the same tokens on every run, runtime and machine.
/// </summary>
public static class SamplerRandom
{
    /// <summary>Turns any seed (0 included) into a non-zero xorshift state.</summary>
    public static ulong Seed(ulong seed)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return z == 0 ? 0x9E3779B97F4A7C15UL : z;
    }

    /// <summary>The next 32 random bits.</summary>
    public static uint NextUInt32(ref ulong state)
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return (uint)((state * 0x2545F4914F6CDD1DUL) >> 32);
    }

    /// <summary>
    /// A seed drawn from the process's shared random generator, for options that give none: each unseeded run samples
    /// differently (as llama.cpp does), while an explicit <see cref="GenerationOptions.Seed"/> reproduces a run bit for bit.
    /// </summary>
    public static ulong FreshSeed() => (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.Next() << 63);

    /// <summary>A float uniform in [0, 1).</summary>
    public static float NextFloat(ref ulong state) => (NextUInt32(ref state) >> 8) / 16777216f;
}
