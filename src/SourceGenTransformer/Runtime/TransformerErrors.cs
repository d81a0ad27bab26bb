using System.ComponentModel;
using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The exceptions generated engines throw, kept out of line so the hot paths stay small.
/// Every message carries the numbers that were wrong.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class TransformerErrors
{
    /// <summary>A token id outside [0, vocabSize).</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void TokenOutOfRange(string paramName, int token, int vocabSize) =>
        throw new ArgumentOutOfRangeException(paramName, token, $"Token id {token} is outside the vocabulary [0, {vocabSize}).");

    /// <summary>A token id at an index of a sequence outside [0, vocabSize).</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void TokenOutOfRange(string paramName, int index, int token, int vocabSize) =>
        throw new ArgumentOutOfRangeException(paramName, token, $"Token id {token} at index {index} is outside the vocabulary [0, {vocabSize}).");

    /// <summary>The session already holds maxSequenceLength tokens.</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void ContextFull(string paramName, int position, int count, int maxSequenceLength) =>
        throw new ArgumentOutOfRangeException(paramName, position + count,
            $"The session holds {position} tokens; {count} more would reach position {position + count}, past MaxSequenceLength {maxSequenceLength}. Call Reset() or create a new session.");

    /// <summary>An empty token sequence where at least one token is needed.</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void EmptyTokens(string paramName) =>
        throw new ArgumentException("At least one token is required.", paramName);

    /// <summary>Two threads used one session at once.</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void SessionInUse() =>
        throw new InvalidOperationException(
            "This session is already running a call on another thread. A session holds one sequence's KV cache and runs one call at a time; " +
            "create a session per thread (CreateSession()). Sessions of one model share its worker threads, taking turns.");

    /// <summary>A kernel was handed a span shorter than its constant shape.</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void SpanTooShort(string kernel) =>
        throw new ArgumentException($"A span passed to kernel {kernel} is shorter than the kernel's constant shape.");

    /// <summary>A panel kernel was handed a row range that does not start and end on whole panels.</summary>
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void RowsNotPanels(string kernel, int rowStart, int rowEnd, int panelRows) =>
        throw new ArgumentException($"Kernel {kernel} takes whole panels of {panelRows} rows; rows [{rowStart}, {rowEnd}) do not start and end on one.");
}
