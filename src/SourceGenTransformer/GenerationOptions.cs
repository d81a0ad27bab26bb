using System;
using System.Collections.Generic;

namespace SourceGenTransformer;

/// <summary>How a decoding loop picks tokens and when it stops.</summary>
public sealed class GenerationOptions
{
    /// <summary>The most tokens to generate after the prompt. Default 256.</summary>
    public int MaxNewTokens { get; set; } = 256;

    /// <summary>Softmax temperature; 0 (the default) means greedy (argmax).</summary>
    public float Temperature { get; set; }

    /// <summary>Keep only the K most likely tokens before sampling; 0 (the default) keeps all.</summary>
    public int TopK { get; set; }

    /// <summary>Keep the smallest set of tokens whose probability mass reaches P; 1 (the default) keeps all.</summary>
    public float TopP { get; set; } = 1f;

    /// <summary>
    /// Seed of the sampler's random state: the same seed gives the same tokens on every run and machine. Null (the
    /// default) draws a fresh seed for each call, so unseeded sampling differs from run to run. Greedy decoding
    /// (temperature 0) and beam search use no randomness.
    /// </summary>
    public ulong? Seed { get; set; }

    /// <summary>Tokens that end generation (not emitted). The model's declared EOS token always stops it.</summary>
    public IReadOnlyCollection<int>? StopTokens { get; set; }

    /// <summary>Beams kept by beam search (Seq2Seq); 1 means greedy or sampled decoding.</summary>
    public int BeamWidth { get; set; } = 1;

    /// <summary>
    /// Beam search ranks finished hypotheses by log-probability / length^LengthPenalty: 0 compares raw
    /// log-probabilities (favouring short outputs), 1 (the default) the mean per token.
    /// </summary>
    public float LengthPenalty { get; set; } = 1f;

    /// <summary>The shared default options: greedy, 256 new tokens.</summary>
    internal static GenerationOptions Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option that is out of range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be 0 or more.");
        if (!(Temperature >= 0f) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a finite number, 0 or more (0 means greedy).");
        if (TopK < 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be 0 (off) or more.");
        if (!(TopP > 0f && TopP <= 1f))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!float.IsFinite(LengthPenalty))
            throw new ArgumentOutOfRangeException(nameof(LengthPenalty), LengthPenalty, "LengthPenalty must be a finite number.");
        if (BeamWidth < 1 || BeamWidth > BeamSearch.MaxBeamWidth)
            throw new ArgumentOutOfRangeException(nameof(BeamWidth), BeamWidth,
                $"BeamWidth must be between 1 and {BeamSearch.MaxBeamWidth} (each beam holds a whole KV cache).");
    }
}
