using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.ML.Tokenizers;

namespace SourceGenTransformer.Text;

/// <summary>Statistics of one generation, for reporting.</summary>
/// <param name="PromptTokens">Tokens in the prompt (BOS included).</param>
/// <param name="GeneratedTokens">Tokens generated.</param>
/// <param name="TimeToFirstToken">From the call to the first generated token.</param>
/// <param name="Total">From the call to the end.</param>
public sealed record GenerationStats(int PromptTokens, int GeneratedTokens, TimeSpan TimeToFirstToken, TimeSpan Total)
{
    /// <summary>Generated tokens per second after the first one.</summary>
    public double TokensPerSecond =>
        GeneratedTokens > 1 && Total > TimeToFirstToken ? (GeneratedTokens - 1) / (Total - TimeToFirstToken).TotalSeconds : 0;
}

/// <summary>
/// Text in, text out over a generated decoder model and a Microsoft.ML.Tokenizers tokenizer: encodes the
/// prompt (with BOS when the tokenizer defines one), generates token ids, and streams text pieces that
/// never split a character.
/// </summary>
public sealed class TextGenerator
{
    /// <summary>Creates a generator; the tokenizer decides whether the prompt starts with BOS.</summary>
    public TextGenerator(IDecoderModel model, Tokenizer tokenizer)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
    }

    /// <summary>The model.</summary>
    public IDecoderModel Model { get; }

    /// <summary>The tokenizer.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>The statistics of the last finished generation, or null.</summary>
    public GenerationStats? LastStats { get; private set; }

    /// <summary>
    /// Loads a SentencePiece <c>tokenizer.model</c> as Microsoft.ML.Tokenizers' LlamaTokenizer, adding BOS to prompts.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a SentencePiece model the tokenizer accepts.</exception>
    public static Tokenizer LoadSentencePiece(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        using FileStream stream = File.OpenRead(path);
        try
        {
            return LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not IOException and not OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: not a SentencePiece model that LlamaTokenizer accepts ({e.Message}). " +
                "It needs a BPE or unigram model trained with normalization_rule_name=identity.", e);
        }
    }

    /// <summary>The prompt's token ids as the tokenizer encodes them (BOS included when it adds one).</summary>
    public int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        IReadOnlyList<int> ids = Tokenizer.EncodeToIds(prompt);
        var result = new int[ids.Count];
        for (int i = 0; i < result.Length; i++) result[i] = ids[i];
        if (result.Length == 0 && Model.BosToken >= 0) result = [Model.BosToken]; // an empty prompt still needs a first token
        return result;
    }

    /// <summary>Streams the generated text, piece by piece; stops early when <paramref name="cancellationToken"/> is cancelled.</summary>
    public IEnumerable<string> Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        int[] ids = EncodePrompt(prompt);
        if (ids.Length == 0) throw new ArgumentException("The prompt encodes to no tokens and the model has no BOS token to start from.", nameof(prompt));
        return GenerateCore(ids, options, cancellationToken);
    }

    private IEnumerable<string> GenerateCore(int[] ids, GenerationOptions? options, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan first = TimeSpan.Zero;
        int count = 0;
        // Decode after the prompt (BOS aside), so the first generated word keeps its leading space.
        int skip = ids.Length > 0 && ids[0] == Model.BosToken ? 1 : 0;
        var detokenizer = new StreamingDetokenizer(Tokenizer, new ArraySegment<int>(ids, skip, ids.Length - skip));
        foreach (int id in Model.Generate(ids, options))
        {
            if (count++ == 0) first = clock.Elapsed;
            string piece = detokenizer.Add(id);
            if (piece.Length > 0) yield return piece;
            if (cancellationToken.IsCancellationRequested) break;
        }
        string rest = detokenizer.Flush();
        if (rest.Length > 0) yield return rest;
        LastStats = new GenerationStats(ids.Length, count, first, clock.Elapsed);
    }

    /// <summary>Streams the generated text asynchronously (the work runs on the calling thread between awaits).</summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (string piece in Generate(prompt, options, cancellationToken))
        {
            yield return piece;
            await System.Threading.Tasks.Task.Yield();
            if (cancellationToken.IsCancellationRequested) yield break;
        }
    }

    /// <summary>Generates and returns the whole text.</summary>
    public string Complete(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        string.Concat(Generate(prompt, options, cancellationToken));
}
