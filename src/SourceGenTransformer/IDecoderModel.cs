using System;
using System.Collections.Generic;

namespace SourceGenTransformer;

/// <summary>
/// What every generated decoder-only model (Llama, Gpt2) offers, for code that works with any of
/// them: text front ends, chat clients, tests. The generated class's own members are the fast,
/// direct path; this interface adds one virtual call per token.
/// </summary>
public interface IDecoderModel
{
    /// <summary>Vocabulary size: the length of the logits.</summary>
    int VocabSize { get; }

    /// <summary>The most tokens a session holds.</summary>
    int MaxSequenceLength { get; }

    /// <summary>Beginning-of-sequence token id, or -1.</summary>
    int BosToken { get; }

    /// <summary>End-of-sequence token id, or -1.</summary>
    int EosToken { get; }

    /// <summary>Every token id that ends generation (a config.json may list several); by default the EOS token alone.</summary>
    IReadOnlyList<int> EosTokens => EosToken >= 0 ? [EosToken] : [];

    /// <summary>The sampling defaults the model was declared with (generation_config.json), or null.</summary>
    GenerationOptions? DefaultGenerationOptions => null;

    /// <summary>Creates a session with its own KV cache.</summary>
    IDecoderSession CreateDecoderSession();

    /// <summary>Yields generated token ids after <paramref name="prompt"/>.</summary>
    IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions? options = null);
}

/// <summary>One sequence being decoded by an <see cref="IDecoderModel"/>.</summary>
public interface IDecoderSession
{
    /// <summary>Tokens consumed so far.</summary>
    int Position { get; }

    /// <summary>Consumes one token; returns the next-token logits.</summary>
    ReadOnlySpan<float> Forward(int token);

    /// <summary>Consumes a block of tokens; returns the logits after the last.</summary>
    ReadOnlySpan<float> Forward(ReadOnlySpan<int> tokens);

    /// <summary>Starts a new sequence.</summary>
    void Reset();

    /// <summary>Forgets the tokens from <paramref name="position"/> on, keeping the cached positions before it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The position is negative or past <see cref="Position"/>.</exception>
    void Rewind(int position);
}
