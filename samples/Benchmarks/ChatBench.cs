using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using SourceGenTransformer;
using SourceGenTransformer.Tests;
using SourceGenTransformer.Text;
using SourceGenTransformer.Text.Json;

namespace Benchmarks;

/// <summary>The stories15M shape with a longer context, for chat: its 32,000 ids are the byte-level tokenizer's below.</summary>
[Transformer(ModelFamily.Llama, Layers = 6, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 32000,
    MaxSequenceLength = 2048, EosToken = 31999)]
public partial class ChatStories15M;

/// <summary>
/// <c>Benchmarks --chat [--runs N]</c>: the chat client on the stories15M shape (random weights) with a 32,000-token
/// byte-level tokenizer (GPT-2's first 31,997 ranks and Qwen's three special tokens, Qwen's split pattern) and Qwen2.5's
/// chat template. Two measurements, interleaved round by round:
/// prompt reuse (a 10-turn conversation with the session kept between turns, against a fresh session each turn) and the
/// cost of constrained JSON decoding (the same sampled decode with and without a JSON schema, per token).
/// </summary>
internal static class ChatBench
{
    public const string Argument = "--chat";
    public const string Section = "chat";
    private const int Turns = 10, ReplyTokens = 16, JsonTokens = 160, WarmCalls = 20;

    public static int Run(string[] args)
    {
        int runs = 5;
        string? output = null;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
            else { Console.Error.WriteLine("usage: Benchmarks --chat [--runs N] [--out docs/benchmarks.md]"); return 2; }
        }
        string dir = Directory.CreateTempSubdirectory("stg-chat-").FullName;
        try
        {
            var shape = new Shape("chat15M", ChatStories15M.Layers, ChatStories15M.ModelDim, ChatStories15M.FeedForwardDim, ChatStories15M.Heads,
                ChatStories15M.VocabSize, ChatStories15M.MaxSequenceLength);
            RandomWeights.WriteLlama(shape, shape.File(dir), dir);
            using ChatStories15M model = ChatStories15M.Load(shape.File(dir));
            HuggingFaceTokenizer tokenizer = Tokenizer(dir);
            using Stream jinja = typeof(ChatBench).Assembly.GetManifestResourceStream("qwen2.5.jinja")!;
            var template = new ChatTemplate(new StreamReader(jinja).ReadToEnd(), null, "<|im_end|>");
            var generator = new TextGenerator(model, tokenizer);

            var reuse = new List<double[]>();   // per turn: ms with reuse
            var fresh = new List<double[]>();   // per turn: ms with a fresh session
            var encodedReuse = new int[Turns];
            var encodedFresh = new int[Turns];
            var plain = new List<double>();     // ms per token, unconstrained
            var json = new List<double>();      // ms per token, under the schema
            var engine = new List<double>();    // ms per token, the session alone
            var mask = new List<double>();      // ms per token, Mask and Advance alone, on a warm path
            double cold = 0;
            JsonElement schema = JsonDocument.Parse(Schema).RootElement.Clone();
            for (int round = 0; round < runs; round++)
            {
                bool reuseFirst = round % 2 == 0;
                for (int k = 0; k < 2; k++)
                {
                    bool useReuse = (k == 0) == reuseFirst;
                    (double[] ms, int[] encoded) = Conversation(generator, template, useReuse);
                    (useReuse ? reuse : fresh).Add(ms);
                    Array.Copy(encoded, useReuse ? encodedReuse : encodedFresh, Turns);
                }
                if (round == 0)
                {
                    var clock = Stopwatch.StartNew();
                    JsonDecode(generator, schema, seed: 1000); // builds the automaton's first tables
                    cold = clock.Elapsed.TotalMilliseconds;
                    for (int seed = 1001; seed < 1001 + WarmCalls; seed++) JsonDecode(generator, schema, seed);
                }
                engine.Add(EngineDecode(model));
                mask.Add(MaskAlone(model, tokenizer, schema, round));
                for (int k = 0; k < 2; k++)
                {
                    bool constrained = (k == 0) == (round % 2 == 0);
                    (double perToken, _) = constrained ? JsonDecode(generator, schema, round) : JsonDecode(generator, null, round);
                    (constrained ? json : plain).Add(perToken);
                }
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round + 1}: turn 10 {reuse[^1][^1]:F1} ms reused vs {fresh[^1][^1]:F1} ms fresh; decode {plain[^1]:F3} vs {json[^1]:F3} ms/token"));
            }

            double Med(IEnumerable<double> v) => Stat.Of(v).Median;
            var report = new StringBuilder();
            report.AppendLine($"<!-- {Section}: written by Benchmarks --chat -->");
            report.AppendLine("## Chat: prompt reuse and constrained JSON");
            report.AppendLine();
            report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"The stories15M shape (random weights, context 2048) behind `TransformerChatClient`, with a 32,000-token byte-level tokenizer.json (GPT-2's first 31,997 ranks, Qwen's special tokens and split pattern) and Qwen2.5's chat template; {Environment.ProcessorCount} threads, medians of {runs} interleaved rounds. `dotnet publish samples/Benchmarks -c Release -o artifacts/bench && artifacts/bench/Benchmarks --chat --runs {runs} --out docs/benchmarks.md`."));
            report.AppendLine();
            report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"**Prompt reuse.** A 10-turn conversation (a system message, then per turn a user message and a {ReplyTokens}-token greedy reply that the next turn's prompt carries). With reuse the client keeps its session and encodes only the tokens after the longest common prefix; without (`ReuseSession = false`) every turn encodes the whole conversation in a new session."));
            report.AppendLine();
            report.AppendLine("| turn | prompt tokens | encoded with reuse | ms per turn, reuse | encoded without | ms per turn, without | speed-up |");
            report.AppendLine("|---|---|---|---|---|---|---|");
            for (int t = 0; t < Turns; t++)
            {
                double a = Med(reuse.Select(r => r[t])), b = Med(fresh.Select(r => r[t]));
                report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {t + 1} | {encodedFresh[t]} | {encodedReuse[t]} | {a:F1} | {encodedFresh[t]} | {b:F1} | {b / a:F2}x |"));
            }
            double total = Med(reuse.Select(r => r.Sum())), totalFresh = Med(fresh.Select(r => r.Sum()));
            report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| all 10 | | {encodedReuse.Sum()} | {total:F0} | {encodedFresh.Sum()} | {totalFresh:F0} | {totalFresh / total:F2}x |"));
            report.AppendLine();
            double p = Med(plain), j = Med(json), e = Med(engine), m = Med(mask);
            report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"**Constrained JSON.** {JsonTokens} tokens sampled at temperature 1.0 from one prompt, unconstrained and under a schema of nested objects, an enum, numbers and an array (the decode loop is the same; the difference is the mask: one table lookup per step, then the logits of the tokens that continue the document, or the few that do not inside a string). The first constrained call also builds the automaton's token tables, once per schema and tokenizer: {cold:F0} ms for that whole call."));
            report.AppendLine();
            report.AppendLine("| decode | ms per token | tokens/s | masking overhead |");
            report.AppendLine("|---|---|---|---|");
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| the session alone (Forward, no sampling or text) | {e:F3} | {1000 / e:F0} | |"));
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| unconstrained, through the chat client | {p:F3} | {1000 / p:F0} | |"));
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| JSON schema, through the chat client | {j:F3} | {1000 / j:F0} | {(j - p) / p * 100:F1}% of the unconstrained row (the difference of two noisy rows) |"));
            report.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| the mask alone (Mask and Advance, timed by themselves on a sampled path whose tables are built) | {m:F3} | | {m / e * 100:F1}% of the session's decode, {m / p * 100:F1}% of the chat client's |"));
            report.AppendLine($"<!-- /{Section} -->");
            Console.WriteLine(report.ToString());
            if (output is not null) Report.WriteSection(output, Section, report.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private const string Schema = """
        {"type":"object","properties":{
          "name":{"type":"string"},
          "home":{"type":"object","properties":{"city":{"type":"string"},"number":{"type":"integer"}},"required":["city","number"]},
          "sky":{"type":"string","enum":["sunny","cloudy","rainy"]},
          "scores":{"type":"array","items":{"type":"number"}},
          "member":{"type":"boolean"}},
         "required":["name","home","sky","scores","member"]}
        """;

    private static HuggingFaceTokenizer Tokenizer(string dir)
    {
        (Dictionary<string, int> vocab, List<(string, string)> merges) = Gpt2TokenizerJson.Ranks(31997);
        string json = Gpt2TokenizerJson.Json(vocab, merges,
            added: [Gpt2TokenizerJson.Added(31997, "<|endoftext|>"), Gpt2TokenizerJson.Added(31998, "<|im_start|>"), Gpt2TokenizerJson.Added(31999, "<|im_end|>")],
            preTokenizer: "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":" + Gpt2TokenizerJson.Quote(Gpt2TokenizerJson.QwenPattern)
                + "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]}",
            postProcessor: "null", normalizer: """{"type":"NFC"}""", ignoreMerges: false);
        string path = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(path, json);
        return HuggingFaceTokenizer.Load(path);
    }

    /// <summary>One 10-turn conversation: each turn's milliseconds and the prompt tokens it encoded.</summary>
    private static (double[], int[]) Conversation(TextGenerator generator, ChatTemplate template, bool reuse)
    {
        var client = new TransformerChatClient(generator, "chat15M", template) { ReuseSession = reuse };
        var messages = new List<ChatMessage> { new(ChatRole.System, "You are a helpful assistant who answers in a few words.") };
        var ms = new double[Turns];
        var encoded = new int[Turns];
        var options = new ChatOptions { MaxOutputTokens = ReplyTokens };
        for (int t = 0; t < Turns; t++)
        {
            messages.Add(new ChatMessage(ChatRole.User, $"Here is question number {t + 1}: what would you do on a rainy afternoon in a small town?"));
            var clock = Stopwatch.StartNew();
            ChatResponse reply = Task.Run(() => client.GetResponseAsync(messages, options)).GetAwaiter().GetResult();
            ms[t] = clock.Elapsed.TotalMilliseconds;
            encoded[t] = client.LastTurn!.EncodedTokens;
            messages.Add(reply.Messages[^1]);
        }
        return (ms, encoded);
    }

    /// <summary>Milliseconds per token of the session alone: Forward after Forward, the next token taken from the logits.</summary>
    private static double EngineDecode(ChatStories15M model)
    {
        ChatStories15M.Session session = model.CreateSession();
        session.Forward([31998, 882, 198]);
        int next = 1;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < JsonTokens; i++)
        {
            ReadOnlySpan<float> logits = session.Forward(next);
            next = (int)((uint)BitConverter.SingleToInt32Bits(logits[i]) % (uint)ChatStories15M.VocabSize);
        }
        return clock.Elapsed.TotalMilliseconds / JsonTokens;
    }

    /// <summary>
    /// Milliseconds per token of the mask alone: the session decodes and samples (temperature 1) under the schema twice
    /// along the same path (same seed, same logits); the first pass builds the states' token tables, and the second
    /// times only <c>Mask</c> and <c>Advance</c>.
    /// </summary>
    private static double MaskAlone(ChatStories15M model, HuggingFaceTokenizer tokenizer, JsonElement schema, int seed)
    {
        var compiled = JsonConstraintCompiled.For(tokenizer, ChatStories15M.VocabSize, schema);
        double timed = 0;
        int steps = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            JsonConstraint constraint = compiled.Start(ChatStories15M.EosToken);
            var sampler = new TokenSampler(ChatStories15M.VocabSize, new GenerationOptions { Temperature = 1f, Seed = (ulong)seed }, [ChatStories15M.EosToken]);
            ChatStories15M.Session session = model.CreateSession();
            var masked = new float[ChatStories15M.VocabSize];
            ReadOnlySpan<float> logits = session.Forward([31998, 882, 198]);
            steps = 0;
            timed = 0;
            for (int remaining = JsonTokens; remaining > 0; remaining--)
            {
                long start = Stopwatch.GetTimestamp();
                constraint.Mask(logits, masked, remaining);
                long masking = Stopwatch.GetTimestamp() - start;
                int next = sampler.Next(masked);
                if (sampler.IsStop(next)) break;
                start = Stopwatch.GetTimestamp();
                constraint.Advance(next);
                timed += (masking + Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency;
                steps++;
                logits = session.Forward(next);
            }
        }
        return timed / Math.Max(1, steps);
    }

    /// <summary>Milliseconds per generated token of one sampled reply, with or without the schema.</summary>
    private static (double, int) JsonDecode(TextGenerator generator, JsonElement? schema, int seed)
    {
        var client = new TransformerChatClient(generator, "chat15M") { ReuseSession = false };
        var options = new ChatOptions { MaxOutputTokens = JsonTokens, Temperature = 1.0f, Seed = seed };
        if (schema is { } s) options.ResponseFormat = ChatResponseFormat.ForJsonSchema(s, "record");
        ChatMessage[] prompt = [new(ChatRole.User, "Describe a person as JSON.")];
        // The prompt alone, timed apart, so the per-token rate is the decode loop's.
        var clock = Stopwatch.StartNew();
        Task.Run(() => client.GetResponseAsync(prompt, new ChatOptions { MaxOutputTokens = 1 })).GetAwaiter().GetResult();
        double promptMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        ChatResponse r = Task.Run(() => client.GetResponseAsync(prompt, options)).GetAwaiter().GetResult();
        double ms = clock.Elapsed.TotalMilliseconds - promptMs;
        int tokens = (int)r.Usage!.OutputTokenCount!.Value;
        if (schema is not null) JsonDocument.Parse(r.Text).Dispose(); // it parses, or the benchmark fails
        return (ms / Math.Max(1, tokens - 1), tokens);
    }
}
