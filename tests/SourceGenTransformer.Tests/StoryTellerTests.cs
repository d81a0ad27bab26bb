using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using SourceGenTransformer.Models;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The story model trained by models/storyteller/train.py, through its tokenizer, the text API and IChatClient.</summary>
public class StoryTellerTests
{
    private static readonly StoryTellerModel Model = StoryTellerModel.Load(Fixture.ModelPath("storyteller.safetensors"));
    private static readonly TextGenerator Text = new(Model, TextGenerator.LoadSentencePiece(Fixture.ModelPath("tokenizer.model")));

    public static TheoryData<int> Prompts => new(Enumerable.Range(0, 20));

    private static (string Prompt, int[] PromptIds, int[] Greedy) Case(int i)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.ModelPath("greedy.json")));
        JsonElement e = doc.RootElement[i];
        return (e.GetProperty("prompt").GetString()!,
            e.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            e.GetProperty("greedy").EnumerateArray().Select(x => x.GetInt32()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public void Greedy_output_equals_pytorch(int i)
    {
        (string prompt, int[] promptIds, int[] greedy) = Case(i);
        // Microsoft.ML.Tokenizers encodes the prompt exactly as Python's sentencepiece did (BOS included).
        Assert.Equal(promptIds, Text.EncodePrompt(prompt));
        Assert.Equal(greedy, Model.Generate(promptIds, new GenerationOptions { MaxNewTokens = 48 }));
    }

    [Fact]
    public void Streamed_text_is_the_decoded_greedy_tokens()
    {
        (string prompt, int[] promptIds, int[] greedy) = Case(4); // "Tom loved to": continued by a word
        var options = new GenerationOptions { MaxNewTokens = 48 };
        string streamed = string.Concat(Text.Generate(prompt, options));
        // The continuation is the text after the prompt's: decoded in context, so its first word keeps its space.
        string promptText = Text.Tokenizer.Decode(promptIds.Skip(1));
        string whole = Text.Tokenizer.Decode(promptIds.Skip(1).Concat(greedy));
        Assert.Equal(whole.Substring(promptText.Length), streamed);
        Assert.StartsWith(" ", streamed);
        Assert.Equal(streamed, Text.Complete(prompt, options));
        Assert.NotNull(Text.LastStats);
    }

    private static TransformerChatClient Chat(IDecoderModel? model = null) =>
        new(new TextGenerator(model ?? Model, Text.Tokenizer));

    private static readonly ChatMessage[] Conversation = [new(ChatRole.User, "Once upon a time")];

    [Fact]
    public async Task Chat_streaming_yields_the_same_text_as_non_streaming()
    {
        var options = new ChatOptions { MaxOutputTokens = 40 };
        ChatResponse whole = await Chat().GetResponseAsync(Conversation, options);
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate u in Chat().GetStreamingResponseAsync(Conversation, options)) updates.Add(u);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.False(string.IsNullOrEmpty(whole.Text));
    }

    [Fact]
    public async Task Every_response_carries_its_usage_and_a_length_finish_when_the_budget_ends_it()
    {
        int promptTokens = Text.EncodePrompt("Once upon a time").Length;
        // Unlimited, the story model ends its story (EOS) before the context is full: Stop, with the tokens it made.
        ChatResponse natural = await Chat().GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 256 });
        Assert.Equal(ChatFinishReason.Stop, natural.FinishReason);
        int[] story = Model.Generate(Text.EncodePrompt("Once upon a time"), new GenerationOptions { MaxNewTokens = 256 }).ToArray();
        Assert.True(promptTokens + story.Length < StoryTellerModel.MaxSequenceLength, "the greedy story fills the context");
        Assert.Equal(story.Length, natural.Usage!.OutputTokenCount);

        // A budget of 5 ends it first: Length, with exactly 5.
        ChatResponse limited = await Chat().GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 5 });
        Assert.NotNull(limited.Usage);
        Assert.True(limited.FinishReason == ChatFinishReason.Length, $"{limited.FinishReason}: {limited.Usage!.InputTokenCount} in, {limited.Usage.OutputTokenCount} out, '{limited.Text}'");
        Assert.Equal((promptTokens, 5L, promptTokens + 5L), (limited.Usage!.InputTokenCount, limited.Usage.OutputTokenCount, limited.Usage.TotalTokenCount));

        // A stop sequence ends it early: Stop, and the tokens generated up to there.
        ChatResponse stopped = await Chat().GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 200, StopSequences = [" "] });
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.InRange(stopped.Usage!.OutputTokenCount!.Value, 1, 200);

        // Streaming: the last update holds the usage.
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate u in Chat().GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 5 })) updates.Add(u);
        UsageContent usage = Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.Equal(5L, usage.Details.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
    }

    [Fact]
    public async Task Chat_options_are_honoured()
    {
        var counting = new CountingModel(Model);
        ChatResponse five = await Chat(counting).GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 5 });
        Assert.Equal(4, counting.Steps); // five tokens generated; each but the last fed back through the session
        Assert.Equal(ChatFinishReason.Length, five.FinishReason);

        var sampled = new ChatOptions { MaxOutputTokens = 30, Temperature = 1.0f, TopK = 20, TopP = 0.9f, Seed = 1234 };
        string first = (await Chat().GetResponseAsync(Conversation, sampled)).Text;
        Assert.Equal(first, (await Chat().GetResponseAsync(Conversation, sampled)).Text);
        // Temperature and seed reach the sampler: another seed, or greedy decoding, gives other text.
        var otherSeed = new ChatOptions { MaxOutputTokens = 30, Temperature = 1.0f, TopK = 20, TopP = 0.9f, Seed = 99 };
        Assert.NotEqual(first, (await Chat().GetResponseAsync(Conversation, otherSeed)).Text);
        Assert.NotEqual(first, (await Chat().GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 30 })).Text);
    }

    [Fact]
    public async Task Stop_sequences_end_the_output_without_including_it()
    {
        string full = (await Chat().GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 40 })).Text;
        string[] words = full.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 4, $"need a longer reply to pick a stop sequence from: '{full}'");
        string stop = words[3];
        string expected = full.Substring(0, full.IndexOf(stop, StringComparison.Ordinal));

        var options = new ChatOptions { MaxOutputTokens = 40, StopSequences = [stop] };
        ChatResponse response = await Chat().GetResponseAsync(Conversation, options);
        Assert.Equal(expected, response.Text);
        Assert.DoesNotContain(stop, response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);

        var streamed = new List<string>();
        await foreach (ChatResponseUpdate u in Chat().GetStreamingResponseAsync(Conversation, options)) streamed.Add(u.Text);
        Assert.Equal(expected, string.Concat(streamed));
    }

    [Fact]
    public async Task Cancellation_stops_within_one_token()
    {
        var counting = new CountingModel(Model);
        using var cts = new CancellationTokenSource();
        int tokensWhenCancelled = -1;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (ChatResponseUpdate u in Chat(counting).GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 100 }, cts.Token))
            {
                if (tokensWhenCancelled < 0 && u.Text.Length > 0)
                {
                    tokensWhenCancelled = counting.Steps;
                    cts.Cancel();
                }
            }
        });
        Assert.True(counting.Steps - tokensWhenCancelled <= 1, $"{counting.Steps - tokensWhenCancelled} tokens were generated after cancellation");
    }
}
