using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>A Llama engine with the vocabulary of the Qwen-style tokenizer.json of the tokenizer tests (50,266 ids).</summary>
[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 2, ModelDim = 64, FeedForwardDim = 128, VocabSize = 50266,
    MaxSequenceLength = 768, BosToken = 50256, EosToken = 50258)]
public partial class QwenShapedChat;

/// <summary>
/// The random-weight chat model of the chat client tests, with the Qwen-style tokenizer.json and Qwen2.5's own chat
/// template (the one the Jinja2 fixtures check), so prompts are what a Qwen2.5 instruct model is given.
/// </summary>
public sealed class ChatModelFixture : IDisposable
{
    private readonly string _weights = Path.Combine(Path.GetTempPath(), $"stg-chat-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
    private readonly TokenizerJsonFiles _files = new();

    public ChatModelFixture()
    {
        const int dim = QwenShapedChat.ModelDim, kv = QwenShapedChat.KvHeads * QwenShapedChat.HeadDim, ffn = QwenShapedChat.FeedForwardDim;
        const int vocab = QwenShapedChat.VocabSize;
        var shapes = new List<(string, long[])> { ("model.embed_tokens.weight", [vocab, dim]), ("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim]) };
        for (int l = 0; l < QwenShapedChat.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            shapes.AddRange([
                (p + "input_layernorm.weight", [dim]), (p + "post_attention_layernorm.weight", [dim]),
                (p + "self_attn.q_proj.weight", [dim, dim]), (p + "self_attn.k_proj.weight", [kv, dim]), (p + "self_attn.v_proj.weight", [kv, dim]),
                (p + "self_attn.o_proj.weight", [dim, dim]), (p + "mlp.gate_proj.weight", [ffn, dim]), (p + "mlp.up_proj.weight", [ffn, dim]),
                (p + "mlp.down_proj.weight", [dim, ffn]),
            ]);
        }
        var tensors = shapes.Select(s =>
        {
            var values = new float[s.Item2.Aggregate(1L, (a, b) => a * b)];
            bool norm = s.Item1.EndsWith("norm.weight", StringComparison.Ordinal);
            SweepWeights.Fill(s.Item1, 16, norm ? 0.1f : 0.5f, norm ? 1f : 0f, values);
            return new SweepWeights.Tensor(s.Item1, s.Item2, values);
        }).ToList();
        SweepWeights.WriteSafetensors(_weights, tensors);
        Model = QwenShapedChat.Load(_weights);
        Tokenizer = HuggingFaceTokenizer.Load(_files.Files["qwen"]);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.Path("chat-templates.json")));
        JsonElement t = doc.RootElement.GetProperty("templates").GetProperty("qwen2.5");
        Template = new ChatTemplate(t.GetProperty("source").GetString()!, null, t.GetProperty("eos_token").GetString());
    }

    public QwenShapedChat Model { get; }

    public HuggingFaceTokenizer Tokenizer { get; }

    public ChatTemplate Template { get; }

    public TransformerChatClient Client(IDecoderModel? model = null) =>
        new(new TextGenerator(model ?? Model, Tokenizer), "qwen-shaped", Template);

    public void Dispose()
    {
        Model.Dispose();
        _files.Dispose();
        File.Delete(_weights);
    }
}

/// <summary>A model whose sessions count the tokens they are given, block by block.</summary>
internal sealed class CountingModel(IDecoderModel inner) : IDecoderModel
{
    /// <summary>Tokens run through sessions: prompt blocks and single steps.</summary>
    public int Tokens;

    /// <summary>Single-token steps (each a generated token fed back).</summary>
    public int Steps;

    public int VocabSize => inner.VocabSize;
    public int MaxSequenceLength => inner.MaxSequenceLength;
    public int BosToken => inner.BosToken;
    public int EosToken => inner.EosToken;
    public IReadOnlyList<int> EosTokens => inner.EosTokens;
    public IDecoderSession CreateDecoderSession() => new Session(this, inner.CreateDecoderSession());
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions? options = null) => inner.Generate(prompt, options);

    private sealed class Session(CountingModel owner, IDecoderSession inner) : IDecoderSession
    {
        public int Position => inner.Position;

        public ReadOnlySpan<float> Forward(int token)
        {
            Interlocked.Increment(ref owner.Tokens);
            Interlocked.Increment(ref owner.Steps);
            return inner.Forward(token);
        }

        public ReadOnlySpan<float> Forward(ReadOnlySpan<int> tokens)
        {
            Interlocked.Add(ref owner.Tokens, tokens.Length);
            return inner.Forward(tokens);
        }

        public void Reset() => inner.Reset();
        public void Rewind(int position) => inner.Rewind(position);
    }
}

public sealed class ChatClientTests(ChatModelFixture chat) : IClassFixture<ChatModelFixture>
{
    private static readonly ChatOptions Short = new() { MaxOutputTokens = 12 };

    [Fact]
    public async Task The_prompt_is_the_template_rendering_encoded_without_extra_special_tokens()
    {
        var counting = new CountingModel(chat.Model);
        TransformerChatClient client = chat.Client(counting);
        ChatMessage[] messages = [new(ChatRole.System, "You are terse."), new(ChatRole.User, "Hi <|im_end|> there")];
        ChatResponse r = await client.GetResponseAsync(messages, Short);
        int[] expected = chat.Tokenizer.Encode(chat.Template.Render(messages, addGenerationPrompt: true), addSpecialTokens: false);
        Assert.Equal(expected.Length, r.Usage!.InputTokenCount);
        Assert.Equal(50257, expected[0]); // <|im_start|>, as the template writes it
        Assert.Equal(expected.Length + counting.Steps, counting.Tokens);
        Assert.Equal(r.Usage.OutputTokenCount, client.LastTurn!.GeneratedTokens);
    }

    [Fact]
    public async Task A_ten_turn_conversation_encodes_only_each_turns_new_tokens()
    {
        var counting = new CountingModel(chat.Model);
        TransformerChatClient client = chat.Client(counting);
        var conversation = new List<ChatMessage> { new(ChatRole.System, "You answer in one word.") };
        int previousPrompt = 0;
        for (int turn = 0; turn < 10; turn++)
        {
            conversation.Add(new ChatMessage(ChatRole.User, $"Question number {turn}: what comes next?"));
            int before = counting.Tokens;
            ChatResponse reply = await client.GetResponseAsync(conversation, Short);
            ChatTurnStats stats = client.LastTurn!;
            int encoded = counting.Tokens - before - counting.Steps;
            counting.Steps = 0;
            // What the session ran is exactly the prompt tokens it did not hold, and it held everything up to this turn's
            // new text: the previous prompt, at least (the reply's own tokens may re-encode differently at its end).
            Assert.Equal(stats.EncodedTokens, encoded);
            Assert.Equal(reply.Usage!.InputTokenCount - reply.Usage.CachedInputTokenCount, encoded);
            if (turn > 0) Assert.True(stats.ReusedTokens >= previousPrompt, $"turn {turn}: reused {stats.ReusedTokens} of {stats.PromptTokens}, previous prompt {previousPrompt}");
            int fresh = chat.Tokenizer.Encode($"<|im_start|>user\nQuestion number {turn}: what comes next?<|im_end|>\n<|im_start|>assistant\n", false).Length;
            if (turn > 0) Assert.InRange(encoded, fresh, fresh + reply.Usage.OutputTokenCount!.Value + 8);
            previousPrompt = stats.PromptTokens;
            conversation.Add(reply.Messages[^1]);
        }
    }

    [Fact]
    public async Task A_reused_prefix_gives_the_reply_a_fresh_session_gives()
    {
        var conversation = new List<ChatMessage> { new(ChatRole.System, "Be brief."), new(ChatRole.User, "One") };
        TransformerChatClient reusing = chat.Client();
        ChatResponse first = await reusing.GetResponseAsync(conversation, Short);
        conversation.Add(first.Messages[^1]);
        conversation.Add(new ChatMessage(ChatRole.User, "Two"));
        ChatResponse second = await reusing.GetResponseAsync(conversation, Short);
        Assert.True(reusing.LastTurn!.ReusedTokens > 0);

        TransformerChatClient fresh = chat.Client();
        fresh.ReuseSession = false;
        ChatResponse expected = await fresh.GetResponseAsync(conversation, Short);
        Assert.Equal(0, fresh.LastTurn!.ReusedTokens);
        Assert.Equal(expected.Text, second.Text);
    }

    [Fact]
    public async Task A_conversation_longer_than_the_context_is_refused_or_its_oldest_turns_dropped()
    {
        var conversation = new List<ChatMessage> { new(ChatRole.System, "System prompt stays.") };
        for (int i = 0; i < 40; i++)
        {
            conversation.Add(new ChatMessage(ChatRole.User, $"Turn {i}: " + string.Join(" ", Enumerable.Repeat("words", 12))));
            conversation.Add(new ChatMessage(ChatRole.Assistant, $"Answer {i}."));
        }
        conversation.Add(new ChatMessage(ChatRole.User, "The last question."));
        TransformerChatClient client = chat.Client();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(conversation, Short));
        Assert.Contains("768 (MaxSequenceLength)", e.Message);
        Assert.Contains(nameof(TransformerChatClient.DropOldestTurns), e.Message);

        client.DropOldestTurns = true;
        ChatResponse r = await client.GetResponseAsync(conversation, Short);
        ChatTurnStats stats = client.LastTurn!;
        Assert.True(stats.DroppedMessages > 0 && stats.DroppedMessages % 2 == 0, $"dropped {stats.DroppedMessages}");
        Assert.InRange(stats.PromptTokens, 1, QwenShapedChat.MaxSequenceLength - 1);
        // What was kept: the system message, then whole turns from a user message on, ending with the last question.
        var kept = new List<ChatMessage> { conversation[0] };
        kept.AddRange(conversation.Skip(1 + stats.DroppedMessages));
        Assert.Equal(chat.Tokenizer.Encode(chat.Template.Render(kept, true), false).Length, stats.PromptTokens);
        Assert.NotNull(r.Usage);

        var alone = new List<ChatMessage> { new(ChatRole.System, string.Join(" ", Enumerable.Repeat("long", 900))), new(ChatRole.User, "?") };
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(alone, Short));
        Assert.Contains("The system messages and the last message alone are too long", tooLong.Message);
    }

    [Fact]
    public async Task A_call_that_finds_the_session_busy_runs_its_own_and_both_replies_are_whole()
    {
        TransformerChatClient client = chat.Client();
        ChatMessage[] a = [new(ChatRole.System, "Shared system prompt."), new(ChatRole.User, "First conversation")];
        ChatMessage[] b = [new(ChatRole.System, "Shared system prompt."), new(ChatRole.User, "Second one")];
        // The first call holds the client's session while it is suspended after its first update.
        await using IAsyncEnumerator<ChatResponseUpdate> first = client.GetStreamingResponseAsync(a, Short).GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync());
        ChatResponse second = await client.GetResponseAsync(b, Short);
        Assert.Equal(0, client.LastTurn!.ReusedTokens); // its own session: nothing reused, although the prefix is shared
        var updates = new List<ChatResponseUpdate> { first.Current };
        while (await first.MoveNextAsync()) updates.Add(first.Current);

        TransformerChatClient fresh = chat.Client();
        fresh.ReuseSession = false;
        Assert.Equal((await fresh.GetResponseAsync(a, Short)).Text, updates.ToChatResponse().Text);
        Assert.Equal((await fresh.GetResponseAsync(b, Short)).Text, second.Text);
        // The first call gave the session back: the next call of that conversation reuses its prefix.
        await client.GetResponseAsync(a, Short);
        Assert.True(client.LastTurn!.ReusedTokens > 0);
    }

    [Fact]
    public async Task A_reply_ends_at_the_template_eos_token_as_well_as_at_the_models()
    {
        ChatMessage[] messages = [new(ChatRole.User, "Say something.")];
        int[] prompt = chat.Tokenizer.Encode(chat.Template.Render(messages, true), false);
        int first = Sampling.Argmax(chat.Model.CreateSession().Forward(prompt));
        Assert.NotEqual(50258, first);
        // A template whose eos_token is the token the model would say first: the reply ends before it.
        var template = new ChatTemplate(chat.Template.Source, null, chat.Tokenizer.IdToToken(first));
        var client = new TransformerChatClient(new TextGenerator(chat.Model, chat.Tokenizer), "qwen-shaped", template);
        ChatResponse r = await client.GetResponseAsync(messages, Short);
        Assert.Equal(ChatFinishReason.Stop, r.FinishReason);
        Assert.Equal(0, r.Usage!.OutputTokenCount);
        Assert.True((await chat.Client().GetResponseAsync(messages, Short)).Usage!.OutputTokenCount > 0);
    }

    private static AIFunction Weather(Action? called = null) =>
        AIFunctionFactory.Create((string city, int days) =>
        {
            called?.Invoke();
            return $"Sunny in {city} for {days} days.";
        }, "get_weather", "Gets the forecast for a city.");

    [Fact]
    public async Task Tools_are_rendered_by_the_template_and_a_required_call_parses_into_function_call_content()
    {
        TransformerChatClient client = chat.Client();
        AIFunction weather = Weather();
        ChatMessage[] messages = [new(ChatRole.User, "Weather in Paris?")];
        for (int seed = 0; seed < 20; seed++)
        {
            var options = new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireAny, Temperature = 1f, Seed = seed, MaxOutputTokens = 200 };
            ChatResponse r = await client.GetResponseAsync(messages, options);
            Assert.Equal(ChatFinishReason.ToolCalls, r.FinishReason);
            FunctionCallContent call = Assert.Single(r.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Equal("get_weather", call.Name);
            Assert.Equal(JsonValueKind.String, Assert.IsType<JsonElement>(call.Arguments!["city"]).ValueKind);
            Assert.True(Assert.IsType<JsonElement>(call.Arguments["days"]).TryGetInt32(out _));
            // The prompt is the template's rendering with the tools in it, as apply_chat_template(tools=...) writes it.
            var tools = new Dictionary<string, object?>
            {
                ["tools"] = new List<object?>
                {
                    new Dictionary<string, object?>
                    {
                        ["type"] = "function",
                        ["function"] = new Dictionary<string, object?> { ["name"] = weather.Name, ["description"] = weather.Description, ["parameters"] = weather.JsonSchema },
                    },
                },
            };
            string prompt = chat.Template.Render(messages, true, tools);
            Assert.Contains("<tools>", prompt);
            Assert.Equal(chat.Tokenizer.Encode(prompt, false).Length, r.Usage!.InputTokenCount);
        }
    }

    [Fact]
    public async Task The_client_works_inside_a_chat_client_builder_pipeline_with_function_invocation_and_logging()
    {
        int invoked = 0;
        var logs = new ListLoggerFactory();
        IChatClient pipeline = new ChatClientBuilder(chat.Client())
            .UseFunctionInvocation()
            .UseLogging(logs)
            .Build();
        var options = new ChatOptions { Tools = [Weather(() => invoked++)], ToolMode = ChatToolMode.RequireAny, Temperature = 1f, Seed = 5, MaxOutputTokens = 120 };
        ChatResponse r = await pipeline.GetResponseAsync([new ChatMessage(ChatRole.User, "Weather in Oslo?")], options);
        // The model's call ran, its result went back to the model as a tool message, and the model answered.
        Assert.True(invoked >= 1);
        Assert.Contains(r.Messages.SelectMany(m => m.Contents), c => c is FunctionResultContent result && result.Result!.ToString()!.StartsWith("Sunny in"));
        Assert.Equal(ChatRole.Assistant, r.Messages[^1].Role);
        Assert.NotNull(r.Usage);
        Assert.Contains(logs.Messages, m => m.Contains("GetResponseAsync", StringComparison.Ordinal));
    }

    private sealed class ListLoggerFactory : ILoggerFactory, ILogger
    {
        public List<string> Messages { get; } = [];
        public ILogger CreateLogger(string categoryName) => this;
        public void AddProvider(ILoggerProvider provider) { }
        public void Dispose() { }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages) Messages.Add(formatter(state, exception));
        }
    }
}
