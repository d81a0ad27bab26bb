using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Numerics.Tensors;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The engine's side of an encoder pass over packed sequences: several sequences laid one after another in one pass of
/// at most <see cref="MaxSequenceLength"/> tokens, so that the matrix products run over all of their tokens at once,
/// while positions restart in each sequence and attention stays inside it.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IPackedEncoder
{
    /// <summary>d_model: the width of a hidden state.</summary>
    int ModelDim { get; }

    /// <summary>The most tokens one pass holds (and the longest sequence).</summary>
    int MaxSequenceLength { get; }

    /// <summary>Token ids lie in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>Token types lie in [0, TypeVocabSize).</summary>
    int TypeVocabSize { get; }

    /// <summary>The last pass's hidden states: (tokens, ModelDim), row-major, MaxSequenceLength rows of room.</summary>
    Span<float> Hidden { get; }

    /// <summary>Room for a pass's tokens, types, mask and lengths (MaxSequenceLength each), for callers that pack.</summary>
    int[] PackTokens { get; }

    /// <inheritdoc cref="PackTokens"/>
    int[] PackTypes { get; }

    /// <inheritdoc cref="PackTokens"/>
    int[] PackMask { get; }

    /// <inheritdoc cref="PackTokens"/>
    int[] PackLengths { get; }

    /// <summary>
    /// <see cref="Hidden"/> = the last hidden states of the sequences packed in <paramref name="tokens"/>, lengths[i] tokens
    /// each, one after another. Positions restart at 0 in each sequence; a token attends to the tokens of its own sequence
    /// whose <paramref name="mask"/> is not 0 (an empty mask keeps every token). Empty <paramref name="types"/> are all 0.
    /// Inputs are checked by the caller (<see cref="EncoderRuns"/>).
    /// </summary>
    void EncodePacked(ReadOnlySpan<int> tokens, ReadOnlySpan<int> types, ReadOnlySpan<int> mask, ReadOnlySpan<int> lengths);
}

/// <summary>
/// What generated encoder models do around a pass, shape-free: checking inputs, packing a batch of sequences of mixed
/// lengths into passes, and pooling hidden states into sentence embeddings as sentence-transformers does.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class EncoderRuns
{
    // ---------------------------------------------------------------- checks

    /// <summary>Checks one sequence (and its token types, when given) against the model.</summary>
    public static void CheckSequence(IPackedEncoder e, ReadOnlySpan<int> tokens, ReadOnlySpan<int> types, string tokensName, string typesName, int item = -1)
    {
        string which = item < 0 ? "" : $"Sequence {item} of the batch: ";
        if (tokens.IsEmpty)
            throw new ArgumentException($"{Sentence(which, "at")} least one token is required (an empty text still encodes to [CLS] [SEP]).", tokensName);
        if (tokens.Length > e.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(tokensName, tokens.Length,
                $"{which}{tokens.Length} tokens are more than the model's MaxSequenceLength of {e.MaxSequenceLength}. Truncate the input " +
                "(keep [CLS], the first tokens and [SEP]; the text embedding generator does this when its Truncate option is set), " +
                "or declare a larger MaxSequenceLength if the model's position table has the rows.");
        for (int t = 0; t < tokens.Length; t++)
            if ((uint)tokens[t] >= (uint)e.VocabSize)
                throw new ArgumentOutOfRangeException(tokensName, tokens[t], $"{Sentence(which, "token")} id {tokens[t]} at index {t} is outside the vocabulary [0, {e.VocabSize}).");
        if (types.IsEmpty) return;
        if (types.Length != tokens.Length)
            throw new ArgumentException($"{which}{types.Length} token types were given for {tokens.Length} tokens; give one per token, or none (all 0).", typesName);
        for (int t = 0; t < types.Length; t++)
            if ((uint)types[t] >= (uint)e.TypeVocabSize)
                throw new ArgumentOutOfRangeException(typesName, types[t], $"{Sentence(which, "token")} type {types[t]} at index {t} is outside [0, TypeVocabSize = {e.TypeVocabSize}).");
    }

    /// <summary>A message's start: the batch item's prefix and the word, or the word capitalised.</summary>
    private static string Sentence(string which, string word) => which.Length > 0 ? which + word : char.ToUpperInvariant(word[0]) + word[1..];

    private static void CheckRoom(int needed, int room, string name, string what)
    {
        if (room < needed)
            throw new ArgumentException($"The destination holds {room} floats but {what} needs {needed}.", name);
    }

    // ---------------------------------------------------------------- one sequence

    /// <summary>hidden (tokens.Length, ModelDim) = the last hidden states of one sequence.</summary>
    public static void Encode(IPackedEncoder e, ReadOnlySpan<int> tokens, ReadOnlySpan<int> types, Span<float> hidden)
    {
        CheckSequence(e, tokens, types, nameof(tokens), "tokenTypes");
        int count = tokens.Length * e.ModelDim;
        CheckRoom(count, hidden.Length, "lastHiddenState", $"{tokens.Length} tokens x {e.ModelDim}");
        e.PackLengths[0] = tokens.Length;
        e.EncodePacked(tokens, types, default, e.PackLengths.AsSpan(0, 1));
        e.Hidden.Slice(0, count).CopyTo(hidden);
    }

    /// <summary>destination (ModelDim) = the pooled (and, when asked, normalised) embedding of one sequence.</summary>
    public static void Embed(IPackedEncoder e, ReadOnlySpan<int> tokens, ReadOnlySpan<int> types, EmbeddingPooling pooling, bool normalize, Span<float> destination)
    {
        CheckSequence(e, tokens, types, nameof(tokens), "tokenTypes");
        CheckRoom(e.ModelDim, destination.Length, nameof(destination), "one embedding");
        e.PackLengths[0] = tokens.Length;
        e.EncodePacked(tokens, types, default, e.PackLengths.AsSpan(0, 1));
        Pool(e.Hidden.Slice(0, tokens.Length * e.ModelDim), default, e.ModelDim, pooling, normalize, destination.Slice(0, e.ModelDim));
    }

    // ---------------------------------------------------------------- ragged batches

    /// <summary>
    /// destination (batch.Count, ModelDim) = the embeddings of sequences of mixed lengths, packed without padding into
    /// passes of up to MaxSequenceLength tokens (attention stays inside each sequence).
    /// </summary>
    public static void Embed(IPackedEncoder e, IReadOnlyList<int[]> batch, IReadOnlyList<int[]>? types, EmbeddingPooling pooling, bool normalize, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (types is not null && types.Count != batch.Count)
            throw new ArgumentException($"{types.Count} token-type sequences were given for {batch.Count} sequences; give one per sequence, or none.", nameof(types));
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch[i] is null) throw new ArgumentNullException(nameof(batch), $"Sequence {i} of the batch is null.");
            CheckSequence(e, batch[i], types?[i] ?? default, nameof(batch), nameof(types), i);
        }
        int dim = e.ModelDim;
        CheckRoom(batch.Count * dim, destination.Length, nameof(destination), $"{batch.Count} embeddings of {dim}");
        bool typed = false;
        if (types is not null)
            for (int i = 0; i < types.Count && !typed; i++) typed = types[i] is { Length: > 0 };
        int[] packed = e.PackTokens, packedTypes = e.PackTypes, lengths = e.PackLengths;
        for (int first = 0; first < batch.Count;)
        {
            // As many whole sequences as fit in one pass, in order.
            int total = 0, count = 0;
            while (first + count < batch.Count && total + batch[first + count].Length <= e.MaxSequenceLength)
            {
                int[] tokens = batch[first + count];
                tokens.CopyTo(packed, total);
                if (typed)
                {
                    int[]? t = types![first + count];
                    if (t is { Length: > 0 }) t.CopyTo(packedTypes, total);
                    else Array.Clear(packedTypes, total, tokens.Length);
                }
                lengths[count++] = tokens.Length;
                total += tokens.Length;
            }
            e.EncodePacked(packed.AsSpan(0, total), typed ? packedTypes.AsSpan(0, total) : default, default, lengths.AsSpan(0, count));
            Span<float> hidden = e.Hidden;
            for (int i = 0, at = 0; i < count; i++)
            {
                int n = lengths[i];
                Pool(hidden.Slice(at * dim, n * dim), default, dim, pooling, normalize, destination.Slice((first + i) * dim, dim));
                at += n;
            }
            first += count;
        }
    }

    // ---------------------------------------------------------------- padded batches

    /// <summary>Checks a padded batch as Hugging Face passes one: (batch, sequence) ids, attention mask and token types.</summary>
    private static int CheckPadded(IPackedEncoder e, ReadOnlySpan<int> ids, ReadOnlySpan<int> mask, ReadOnlySpan<int> types, int batchSize)
    {
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        if (ids.IsEmpty || ids.Length % batchSize != 0)
            throw new ArgumentException($"{ids.Length} input ids do not make {batchSize} rows of one length (batch, sequence).", "inputIds");
        int length = ids.Length / batchSize;
        if (!mask.IsEmpty && mask.Length != ids.Length)
            throw new ArgumentException($"The attention mask holds {mask.Length} values for {ids.Length} input ids; give one per id, or none (all 1).", "attentionMask");
        if (!types.IsEmpty && types.Length != ids.Length)
            throw new ArgumentException($"{types.Length} token types were given for {ids.Length} input ids; give one per id, or none (all 0).", "tokenTypeIds");
        for (int row = 0; row < batchSize; row++)
        {
            ReadOnlySpan<int> rowTypes = types.IsEmpty ? default : types.Slice(row * length, length);
            CheckSequence(e, ids.Slice(row * length, length), rowTypes, "inputIds", "tokenTypeIds", batchSize > 1 ? row : -1);
            if (mask.IsEmpty) continue;
            int kept = 0;
            for (int t = row * length; t < (row + 1) * length; t++)
            {
                if (mask[t] is not (0 or 1))
                    throw new ArgumentOutOfRangeException("attentionMask", mask[t], $"Attention mask value {mask[t]} at row {row}, index {t - row * length} is neither 0 nor 1.");
                kept += mask[t];
            }
            if (kept == 0)
                throw new ArgumentException($"Row {row} of the attention mask keeps no token; every sequence needs at least one.", "attentionMask");
        }
        return length;
    }

    /// <summary>
    /// lastHiddenState (batch, sequence, ModelDim) = the padded batch's hidden states, as BertModel computes them: every
    /// position (padding too) attends to the positions its row's mask keeps; positions count from 0 in each row.
    /// </summary>
    public static void Encode(IPackedEncoder e, ReadOnlySpan<int> inputIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> tokenTypeIds, int batchSize, Span<float> lastHiddenState)
    {
        int length = CheckPadded(e, inputIds, attentionMask, tokenTypeIds, batchSize);
        int dim = e.ModelDim;
        CheckRoom(inputIds.Length * dim, lastHiddenState.Length, nameof(lastHiddenState), $"{batchSize} x {length} x {dim}");
        for (int first = 0; first < batchSize;)
        {
            int rows = Pass(e, inputIds, attentionMask, tokenTypeIds, batchSize, length, first);
            e.Hidden.Slice(0, rows * length * dim).CopyTo(lastHiddenState.Slice(first * length * dim));
            first += rows;
        }
    }

    /// <summary>destination (batch, ModelDim) = the pooled embeddings of a padded batch, padding left out of the pooling.</summary>
    public static void Embed(IPackedEncoder e, ReadOnlySpan<int> inputIds, ReadOnlySpan<int> attentionMask, ReadOnlySpan<int> tokenTypeIds, int batchSize,
        EmbeddingPooling pooling, bool normalize, Span<float> destination)
    {
        int length = CheckPadded(e, inputIds, attentionMask, tokenTypeIds, batchSize);
        int dim = e.ModelDim;
        CheckRoom(batchSize * dim, destination.Length, nameof(destination), $"{batchSize} embeddings of {dim}");
        for (int first = 0; first < batchSize;)
        {
            int rows = Pass(e, inputIds, attentionMask, tokenTypeIds, batchSize, length, first);
            Span<float> hidden = e.Hidden;
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<int> rowMask = attentionMask.IsEmpty ? default : attentionMask.Slice((first + r) * length, length);
                Pool(hidden.Slice(r * length * dim, length * dim), rowMask, dim, pooling, normalize, destination.Slice((first + r) * dim, dim));
            }
            first += rows;
        }
    }

    /// <summary>Encodes as many rows from <paramref name="first"/> on as one pass holds; returns how many.</summary>
    private static int Pass(IPackedEncoder e, ReadOnlySpan<int> ids, ReadOnlySpan<int> mask, ReadOnlySpan<int> types, int batchSize, int length, int first)
    {
        int rows = Math.Min(Math.Max(1, e.MaxSequenceLength / length), batchSize - first);
        int[] lengths = e.PackLengths;
        for (int r = 0; r < rows; r++) lengths[r] = length;
        int from = first * length, count = rows * length;
        e.EncodePacked(ids.Slice(from, count), types.IsEmpty ? default : types.Slice(from, count),
            mask.IsEmpty ? default : mask.Slice(from, count), lengths.AsSpan(0, rows));
        return rows;
    }

    // ---------------------------------------------------------------- pooling

    /// <summary>
    /// destination (dim) = one sequence's hidden states (tokens, dim) pooled as sentence-transformers' Pooling module
    /// pools them (mean or max over the tokens <paramref name="mask"/> keeps, or the first token), then divided by
    /// max(L2 norm, 1e-12) when <paramref name="normalize"/>, as torch.nn.functional.normalize.
    /// </summary>
    public static void Pool(ReadOnlySpan<float> hidden, ReadOnlySpan<int> mask, int dim, EmbeddingPooling pooling, bool normalize, Span<float> destination)
    {
        int tokens = hidden.Length / dim;
        destination = destination.Slice(0, dim);
        switch (pooling)
        {
            case EmbeddingPooling.Cls:
                hidden.Slice(0, dim).CopyTo(destination);
                break;
            case EmbeddingPooling.Max:
            {
                bool any = false;
                for (int t = 0; t < tokens; t++)
                {
                    if (!mask.IsEmpty && mask[t] == 0) continue;
                    if (!any) hidden.Slice(t * dim, dim).CopyTo(destination);
                    else TensorPrimitives.Max(destination, hidden.Slice(t * dim, dim), destination);
                    any = true;
                }
                break;
            }
            default:
            {
                destination.Clear();
                int kept = 0;
                for (int t = 0; t < tokens; t++)
                {
                    if (!mask.IsEmpty && mask[t] == 0) continue;
                    TensorPrimitives.Add(destination, hidden.Slice(t * dim, dim), destination);
                    kept++;
                }
                TensorPrimitives.Divide(destination, Math.Max(kept, 1), destination);
                break;
            }
        }
        if (!normalize) return;
        double sum = 0;
        foreach (float v in destination) sum += (double)v * v;
        float scale = (float)(1.0 / Math.Max(Math.Sqrt(sum), 1e-12));
        TensorPrimitives.Multiply(destination, scale, destination);
    }
}
