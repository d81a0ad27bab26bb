using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;

namespace SourceGenTransformer.Text;

/// <summary>
/// <see cref="IChatClient"/> over a generated decoder model and its tokenizer, for code written against
/// Microsoft.Extensions.AI. Honours <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.Temperature"/>,
/// <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.TopK"/>, <see cref="ChatOptions.Seed"/> and
/// <see cref="ChatOptions.StopSequences"/> (the output ends before the first stop sequence, which is not included),
/// and cancellation between tokens.
/// </summary>
/// <remarks>
/// The conversation is turned into one prompt by <see cref="PromptFormatter"/>: by default the messages' texts, one
/// per line, as base language models take it; for an instruct model, its <see cref="ChatTemplate"/>
/// (<c>PromptFormatter = m =&gt; template.Render(m, addGenerationPrompt: true)</c>). The reply is the model's
/// continuation, with its <see cref="ChatResponse.Usage"/>. Each call runs its own session; one client may serve
/// concurrent calls.
/// </remarks>
public sealed class TransformerChatClient : IChatClient
{
    private readonly TextGenerator _generator;

    /// <summary>Creates a client over a text generator.</summary>
    public TransformerChatClient(TextGenerator generator, string modelId = "sourcegentransformer")
    {
        _generator = generator ?? throw new ArgumentNullException(nameof(generator));
        Metadata = new ChatClientMetadata(nameof(TransformerChatClient), defaultModelId: modelId);
    }

    /// <summary>Describes the client.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>Turns the conversation into the prompt; by default each message's text on its own line.</summary>
    public Func<IEnumerable<ChatMessage>, string> PromptFormatter { get; set; } =
        static messages => string.Join("\n", messages.Select(m => m.Text).Where(t => !string.IsNullOrEmpty(t)));

    /// <summary>Generation options when a call passes none: 256 new tokens, greedy.</summary>
    public GenerationOptions DefaultOptions { get; set; } = new();

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        ChatFinishReason? reason = null;
        UsageDetails? usage = null;
        await foreach (ChatResponseUpdate update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            reason = update.FinishReason ?? reason;
            foreach (UsageContent u in update.Contents.OfType<UsageContent>()) usage = u.Details;
        }
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            ModelId = Metadata.DefaultModelId,
            FinishReason = reason,
            Usage = usage,
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string prompt = PromptFormatter(messages);
        GenerationOptions generation = ToGenerationOptions(options);
        var stops = new StopSequenceFilter(options?.StopSequences);
        string id = Guid.NewGuid().ToString("N");

        var counts = new TextGenerator.Counts();
        foreach (string piece in _generator.Generate(prompt, generation, cancellationToken, counts))
        {
            cancellationToken.ThrowIfCancellationRequested();
            string visible = stops.Push(piece, out bool stopped);
            if (visible.Length > 0)
                yield return new ChatResponseUpdate(ChatRole.Assistant, visible) { ResponseId = id, ModelId = Metadata.DefaultModelId };
            if (stopped)
            {
                yield return Finish(id, ChatFinishReason.Stop, counts.PromptTokens, counts.GeneratedTokens);
                yield break;
            }
            await Task.Yield(); // let the caller's continuation run between tokens
        }
        cancellationToken.ThrowIfCancellationRequested();
        string rest = stops.Flush();
        if (rest.Length > 0)
            yield return new ChatResponseUpdate(ChatRole.Assistant, rest) { ResponseId = id, ModelId = Metadata.DefaultModelId };
        // This call's own counts (the generator's LastStats is shared between concurrent calls).
        bool hitLimit = counts.GeneratedTokens >= generation.MaxNewTokens;
        yield return Finish(id, hitLimit ? ChatFinishReason.Length : ChatFinishReason.Stop, counts.PromptTokens, counts.GeneratedTokens);
    }

    /// <summary>The last update: why the reply ended, and its token counts (prompt and generated tokens).</summary>
    private ChatResponseUpdate Finish(string id, ChatFinishReason reason, int input, int output) =>
        new(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output })])
        {
            ResponseId = id,
            ModelId = Metadata.DefaultModelId,
            FinishReason = reason,
        };

    private GenerationOptions ToGenerationOptions(ChatOptions? options)
    {
        GenerationOptions d = DefaultOptions;
        var g = new GenerationOptions
        {
            MaxNewTokens = options?.MaxOutputTokens ?? d.MaxNewTokens,
            Temperature = options?.Temperature ?? d.Temperature,
            TopP = options?.TopP ?? d.TopP,
            TopK = options?.TopK ?? d.TopK,
            Seed = options?.Seed is long seed ? unchecked((ulong)seed) : d.Seed,
            StopTokens = d.StopTokens,
        };
        g.Validate();
        return g;
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_generator)) return _generator;
        return null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}

/// <summary>
/// Cuts streamed text before the first stop sequence. Text that could still be the start of a stop sequence
/// is held back until the next piece decides, so a stop sequence never leaks out, even split across tokens.
/// </summary>
internal sealed class StopSequenceFilter
{
    private readonly string[] _stops;
    private readonly StringBuilder _pending = new();

    public StopSequenceFilter(IEnumerable<string>? stops) =>
        _stops = stops?.Where(s => !string.IsNullOrEmpty(s)).ToArray() ?? Array.Empty<string>();

    /// <summary>Adds a piece; returns the text now safe to show. <paramref name="stopped"/> is set when a stop sequence appeared.</summary>
    public string Push(string piece, out bool stopped)
    {
        _pending.Append(piece);
        string text = _pending.ToString();
        int cut = -1;
        foreach (string stop in _stops)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            stopped = true;
            _pending.Clear();
            return text.Substring(0, cut);
        }
        stopped = false;
        int hold = 0;
        foreach (string stop in _stops)
            for (int k = Math.Min(stop.Length - 1, text.Length); k > hold; k--)
                if (text.EndsWith(stop.Substring(0, k), StringComparison.Ordinal)) { hold = k; break; }
        string safe = text.Substring(0, text.Length - hold);
        _pending.Clear().Append(text, text.Length - hold, hold);
        return safe;
    }

    /// <summary>The held-back text at the end of generation (it did not become a stop sequence).</summary>
    public string Flush()
    {
        string rest = _pending.ToString();
        _pending.Clear();
        return rest;
    }
}
