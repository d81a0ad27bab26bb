using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using SourceGenTransformer.Text.Json;

namespace SourceGenTransformer.Text;

/// <summary>The token counts of one chat call.</summary>
/// <param name="PromptTokens">Tokens in the rendered conversation.</param>
/// <param name="ReusedTokens">Of those, the ones the session already held from an earlier call (not encoded again).</param>
/// <param name="GeneratedTokens">Tokens generated.</param>
/// <param name="DroppedMessages">Messages left out because the conversation outgrew the context (<see cref="TransformerChatClient.DropOldestTurns"/>).</param>
public sealed record ChatTurnStats(int PromptTokens, int ReusedTokens, int GeneratedTokens, int DroppedMessages)
{
    /// <summary>Prompt tokens this call ran through the model.</summary>
    public int EncodedTokens => PromptTokens - ReusedTokens;
}

/// <summary>
/// <see cref="IChatClient"/> over a generated decoder model and its tokenizer, for code written against
/// Microsoft.Extensions.AI. Honours <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.Temperature"/>,
/// <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.TopK"/>, <see cref="ChatOptions.Seed"/>,
/// <see cref="ChatOptions.StopSequences"/> (the output ends before the first stop sequence, which is not included),
/// <see cref="ChatOptions.ResponseFormat"/> (JSON, with or without a schema: decoding is constrained so the reply
/// always parses), <see cref="ChatOptions.Tools"/> (rendered by the template; Hermes-style <c>&lt;tool_call&gt;</c>
/// output becomes <see cref="FunctionCallContent"/>, constrained to the functions' schemas), and cancellation between tokens.
/// </summary>
/// <remarks>
/// <para>
/// The conversation becomes the prompt through <see cref="Template"/>, the model's chat template, when there is one
/// (encoded without the tokenizer's own special tokens, as <c>apply_chat_template</c> does, since the template writes
/// them); otherwise through <see cref="PromptFormatter"/>, by default the messages' texts one per line, as base models take it.
/// </para>
/// <para>
/// The client keeps one session between calls. A call encodes only the tokens after the longest common prefix of its
/// prompt with what that session holds (the system prompt and earlier turns of the same conversation), and
/// <see cref="LastTurn"/> and <see cref="UsageDetails.CachedInputTokenCount"/> say how many were reused. Concurrent
/// calls are served: a call that finds the session busy runs its own.
/// </para>
/// </remarks>
public sealed class TransformerChatClient : IChatClient
{
    private readonly TextGenerator _generator;
    private CachedSession? _cached;
    private ChatTurnStats? _lastTurn;

    /// <summary>Creates a client over a text generator; <paramref name="template"/> is the model's chat template, if it has one.</summary>
    public TransformerChatClient(TextGenerator generator, string modelId = "sourcegentransformer", ChatTemplate? template = null)
    {
        _generator = generator ?? throw new ArgumentNullException(nameof(generator));
        Metadata = new ChatClientMetadata(nameof(TransformerChatClient), defaultModelId: modelId);
        Template = template;
    }

    /// <summary>Describes the client.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>The model's chat template, which renders the conversation; null to use <see cref="PromptFormatter"/>.</summary>
    public ChatTemplate? Template { get; set; }

    /// <summary>Turns the conversation into the prompt when there is no <see cref="Template"/>; by default each message's text on its own line.</summary>
    public Func<IEnumerable<ChatMessage>, string> PromptFormatter { get; set; } =
        static messages => string.Join("\n", messages.Select(m => m.Text).Where(t => !string.IsNullOrEmpty(t)));

    /// <summary>Generation options when a call passes none; null (the default) takes the model's own defaults (generation_config.json), else 256 new tokens, greedy.</summary>
    public GenerationOptions? DefaultOptions { get; set; }

    /// <summary>
    /// When a conversation outgrows the model's context, leave out its oldest turns (each from a user message up to the
    /// next one; system messages and the last message stay) until it fits. Off by default: the call then throws.
    /// </summary>
    public bool DropOldestTurns { get; set; }

    /// <summary>Keep the session between calls and reuse the prefix it holds (on by default).</summary>
    public bool ReuseSession { get; set; } = true;

    /// <summary>The token counts of the last finished call, or null.</summary>
    public ChatTurnStats? LastTurn => Volatile.Read(ref _lastTurn);

    private sealed class CachedSession(IDecoderSession session)
    {
        public IDecoderSession Session { get; } = session;
        public List<int> Tokens { get; } = [];
    }

    /// <inheritdoc/>
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        IDecoderModel model = _generator.Model;
        GenerationOptions generation = ToGenerationOptions(options);
        Tools? tools = Tools.From(options, Template, _generator);
        (int[] ids, int dropped) = Fit(messages.ToList(), tools);
        int budget = Math.Min(generation.MaxNewTokens, model.MaxSequenceLength - ids.Length);
        List<int> eos = StopTokens(out int endToken);

        JsonConstraint? constraint = null;
        if (options?.ResponseFormat is ChatResponseFormatJson json)
            constraint = JsonConstraintCompiled.For(_generator.Tokenizer, model.VocabSize, json.Schema).Start(endToken);
        else if (tools?.Required is { } required)
            constraint = required.Start(endToken);
        if (constraint is not null && constraint.MinimumTokens > budget)
            throw new ArgumentException(
                $"The response format's shortest reply is {constraint.MinimumTokens} characters, and the call must leave a token for each to be sure of finishing it, but it may generate {budget} " +
                $"(MaxOutputTokens {generation.MaxNewTokens}, {model.MaxSequenceLength - ids.Length} left in the context).", nameof(options));

        var stops = new StopSequenceFilter(options?.StopSequences);
        string id = Guid.NewGuid().ToString("N");
        CachedSession lease = (ReuseSession ? Interlocked.Exchange(ref _cached, null) : null) ?? new CachedSession(model.CreateDecoderSession());
        int produced = 0;
        ChatFinishReason reason = ChatFinishReason.Stop;
        var toolText = new StringBuilder();
        bool inToolCall = tools?.Required is not null;
        bool stoppedBySequence = false;
        int reuse = 0;
        try
        {
            // The longest prefix the session already holds; at least the last prompt token runs, for its logits.
            List<int> held = lease.Tokens;
            while (reuse < held.Count && reuse < ids.Length - 1 && held[reuse] == ids[reuse]) reuse++;
            lease.Session.Rewind(reuse);
            held.RemoveRange(reuse, held.Count - reuse);
            ReadOnlySpan<int> fresh = ids.AsSpan(reuse);
            var logits = new float[model.VocabSize]; // the session's span cannot live across the awaits below
            lease.Session.Forward(fresh).CopyTo(logits);
            held.AddRange(fresh);
            Volatile.Write(ref _lastTurn, new ChatTurnStats(ids.Length, reuse, 0, dropped));

            var sampler = new TokenSampler(model.VocabSize, generation, eos.ToArray());
            float[]? masked = null;
            var detokenizer = new StreamingDetokenizer(_generator.Tokenizer, ids.AsSpan(Math.Max(0, ids.Length - 4)).ToArray());
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int remaining = budget - produced;
                if (remaining <= 0)
                {
                    reason = ChatFinishReason.Length;
                    break;
                }
                if (constraint is not null && constraint.IsComplete && endToken < 0) break;
                ReadOnlySpan<float> scores = logits;
                if (constraint is not null)
                {
                    masked ??= new float[model.VocabSize];
                    constraint.Mask(logits, masked, remaining);
                    scores = masked;
                }
                int next = sampler.Next(scores);
                if (sampler.IsStop(next)) break;
                produced++;
                constraint?.Advance(next);
                if (!inToolCall && tools?.StartToken == next && tools.Any is { } any)
                {
                    inToolCall = true;
                    constraint = any.Start(endToken);
                }
                string piece = detokenizer.Add(next);
                if (inToolCall)
                {
                    toolText.Append(piece);
                }
                else
                {
                    string visible = stops.Push(piece, out bool stopped);
                    if (visible.Length > 0)
                        yield return new ChatResponseUpdate(ChatRole.Assistant, visible) { ResponseId = id, ModelId = Metadata.DefaultModelId };
                    if (stopped)
                    {
                        stoppedBySequence = true;
                        break;
                    }
                }
                if (produced >= budget)
                {
                    reason = ChatFinishReason.Length;
                    break;
                }
                lease.Session.Forward(next).CopyTo(logits);
                held.Add(next);
                await Task.Yield(); // let the caller's continuation run between tokens
            }
            string rest = detokenizer.Flush();
            if (inToolCall)
            {
                toolText.Append(rest);
            }
            else if (!stoppedBySequence)
            {
                // The held-back text, and what the detokenizer still held, through the stop sequences once more.
                string tail = stops.Push(rest, out bool stopped);
                if (!stopped) tail += stops.Flush();
                if (tail.Length > 0)
                    yield return new ChatResponseUpdate(ChatRole.Assistant, tail) { ResponseId = id, ModelId = Metadata.DefaultModelId };
            }
        }
        finally
        {
            if (ReuseSession) Interlocked.CompareExchange(ref _cached, lease, null);
            Volatile.Write(ref _lastTurn, new ChatTurnStats(ids.Length, reuse, produced, dropped));
        }
        if (toolText.Length > 0 && tools is not null)
        {
            List<FunctionCallContent> calls = Tools.Parse(tools.StartText + toolText.ToString());
            if (calls.Count > 0)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, [.. calls]) { ResponseId = id, ModelId = Metadata.DefaultModelId };
                reason = ChatFinishReason.ToolCalls;
            }
        }
        yield return Finish(id, reason, ids.Length, produced, reuse);
    }

    /// <summary>
    /// The tokens that end a reply: the model's EOS list (generation_config.json's <c>eos_token_id</c>, else config.json's,
    /// which is what transformers' <c>generate</c> stops at), and the template's <c>eos_token</c> (tokenizer_config.json's),
    /// which is how the template ends a turn. The two disagree for some models (Llama 3.0 Instruct lists
    /// &lt;|end_of_text|&gt; but ends turns with &lt;|eot_id|&gt;), and a chat must stop at either. <paramref name="end"/> is the
    /// one a constrained reply ends with: the template's when it has one, else the model's first.
    /// </summary>
    private List<int> StopTokens(out int end)
    {
        var stop = new List<int>(_generator.Model.EosTokens);
        end = stop.Count > 0 ? stop[0] : -1;
        if (Template?.EosToken is { } text && _generator.Tokenizer is HuggingFaceTokenizer hf && hf.TokenToId(text) is int id && id < _generator.Model.VocabSize)
        {
            if (!stop.Contains(id)) stop.Add(id);
            end = id;
        }
        return stop;
    }

    /// <summary>Renders and encodes the conversation, leaving out its oldest turns when it must and may.</summary>
    private (int[] Ids, int Dropped) Fit(List<ChatMessage> messages, Tools? tools)
    {
        int max = _generator.Model.MaxSequenceLength;
        int dropped = 0;
        while (true)
        {
            int[] ids = Encode(messages, tools);
            if (ids.Length == 0) throw new ArgumentException("The conversation encodes to no tokens and the model has no BOS token to start from.", nameof(messages));
            if (ids.Length < max) return (ids, dropped);
            if (!DropOldestTurns)
                throw new ArgumentException(
                    $"The conversation takes {ids.Length} tokens, and the model holds {max} (MaxSequenceLength) with room for at least one reply token. " +
                    $"Set {nameof(TransformerChatClient)}.{nameof(DropOldestTurns)} = true to leave out the oldest turns (system messages stay), or shorten it.",
                    nameof(messages));
            // The oldest turn: from the first message that is not a system message up to the next user message.
            int first = messages.FindIndex(m => m.Role != ChatRole.System);
            int end = first < 0 ? -1 : messages.FindIndex(first + 1, m => m.Role == ChatRole.User);
            if (first < 0 || first >= messages.Count - 1 || end < 0)
                throw new ArgumentException(
                    $"The conversation takes {ids.Length} tokens even with its oldest turns left out ({dropped} messages); the model holds {max}. " +
                    "The system messages and the last message alone are too long.", nameof(messages));
            dropped += end - first;
            messages.RemoveRange(first, end - first);
        }
    }

    private int[] Encode(List<ChatMessage> messages, Tools? tools)
    {
        if (Template is null) return _generator.EncodePrompt(PromptFormatter(messages));
        string prompt = Template.Render(messages, addGenerationPrompt: true, tools?.Variables);
        return _generator.Tokenizer is HuggingFaceTokenizer hf ? hf.Encode(prompt, addSpecialTokens: false) : _generator.EncodePrompt(prompt);
    }

    /// <summary>The last update: why the reply ended, and its token counts (prompt, reused and generated tokens).</summary>
    private ChatResponseUpdate Finish(string id, ChatFinishReason reason, int input, int output, int cached) =>
        new(ChatRole.Assistant, [new UsageContent(new UsageDetails
        {
            InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output, CachedInputTokenCount = cached,
        })])
        {
            ResponseId = id,
            ModelId = Metadata.DefaultModelId,
            FinishReason = reason,
        };

    private GenerationOptions ToGenerationOptions(ChatOptions? options)
    {
        GenerationOptions d = DefaultOptions ?? _generator.Model.DefaultGenerationOptions ?? new GenerationOptions();
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

    /// <summary>
    /// A call's functions: the template's <c>tools</c> variable, and for Hermes-style templates (Qwen2.5's: the model
    /// writes <c>&lt;tool_call&gt;{"name": ..., "arguments": ...}&lt;/tool_call&gt;</c>) the grammar its calls follow.
    /// </summary>
    private sealed class Tools
    {
        private const string Start = "<tool_call>", End = "</tool_call>";

        public required IReadOnlyDictionary<string, object?> Variables { get; init; }
        public int StartToken { get; init; } = -1;
        public string StartText => Start;

        /// <summary>What follows the start token: one call to any function.</summary>
        public JsonConstraintCompiled? Any { get; init; }

        /// <summary>The whole reply, when the options require a call.</summary>
        public JsonConstraintCompiled? Required { get; init; }

        public static Tools? From(ChatOptions? options, ChatTemplate? template, TextGenerator generator)
        {
            var functions = options?.Tools?.OfType<AIFunctionDeclaration>().ToList();
            if (functions is null || functions.Count == 0 || options!.ToolMode is NoneChatToolMode) return null;
            if (template is null)
                throw new NotSupportedException("Tools need the model's chat template (TransformerChatClient.Template) to be shown to the model.");
            var variables = new Dictionary<string, object?>
            {
                ["tools"] = functions.Select(f => (object?)new Dictionary<string, object?>
                {
                    ["type"] = "function",
                    ["function"] = new Dictionary<string, object?> { ["name"] = f.Name, ["description"] = f.Description, ["parameters"] = f.JsonSchema },
                }).ToList(),
            };
            if (!template.Source.Contains(Start, StringComparison.Ordinal) || generator.Tokenizer is not HuggingFaceTokenizer hf
                || hf.TokenToId(Start) is not int start)
            {
                if (options.ToolMode is RequiredChatToolMode)
                    throw new NotSupportedException($"The chat template does not write tool calls as {Start}...{End}, so a call cannot be required.");
                return new Tools { Variables = variables };
            }
            string? requiredName = (options.ToolMode as RequiredChatToolMode)?.RequiredFunctionName;
            var chosen = requiredName is not null ? functions.Where(f => f.Name == requiredName).ToList() : functions;
            if (chosen.Count == 0) throw new ArgumentException($"The required function \"{requiredName}\" is not among the tools.", nameof(options));
            string Key(IEnumerable<AIFunctionDeclaration> fs, string prefix) =>
                prefix + string.Join("\u0001", fs.Select(f => f.Name + "\u0002" + f.JsonSchema.GetRawText()));
            int vocab = generator.Model.VocabSize;
            var any = JsonConstraintCompiled.For(hf, vocab, Key(functions, "tools:"),
                () => JsonSchemaCompiler.ToolCall(functions.Select(f => (f.Name, f.JsonSchema)), "\n", "\n" + End));
            JsonConstraintCompiled? required = options.ToolMode is RequiredChatToolMode
                ? JsonConstraintCompiled.For(hf, vocab, Key(chosen, "required:"),
                    () => JsonSchemaCompiler.ToolCall(chosen.Select(f => (f.Name, f.JsonSchema)), Start + "\n", "\n" + End))
                : null;
            return new Tools { Variables = variables, StartToken = start, Any = any, Required = required };
        }

        /// <summary>The calls in a reply's <c>&lt;tool_call&gt;</c> blocks.</summary>
        public static List<FunctionCallContent> Parse(string text)
        {
            var calls = new List<FunctionCallContent>();
            for (int at = text.IndexOf(Start, StringComparison.Ordinal); at >= 0; at = text.IndexOf(Start, at + 1, StringComparison.Ordinal))
            {
                int end = text.IndexOf(End, at, StringComparison.Ordinal);
                string body = (end < 0 ? text[(at + Start.Length)..] : text[(at + Start.Length)..end]).Trim();
                try
                {
                    using JsonDocument doc = JsonDocument.Parse(body);
                    JsonElement root = doc.RootElement;
                    if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String)
                        continue;
                    var arguments = new Dictionary<string, object?>();
                    if (root.TryGetProperty("arguments", out JsonElement args) && args.ValueKind == JsonValueKind.Object)
                        foreach (JsonProperty p in args.EnumerateObject()) arguments[p.Name] = p.Value.Clone();
                    calls.Add(new FunctionCallContent("call_" + Guid.NewGuid().ToString("N")[..12], name.GetString()!, arguments));
                }
                catch (JsonException)
                {
                    // Unconstrained text that only looks like a call is left as text's business; constrained calls always parse.
                }
            }
            return calls;
        }
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
