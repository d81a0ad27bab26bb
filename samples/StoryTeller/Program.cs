// StoryTeller: streams a children's story from a Llama-family model through its SentencePiece tokenizer.
//
//   dotnet run -c Release --project samples/StoryTeller -- "Once upon a time"
//
// The default model and tokenizer sit beside the executable (models/storyteller, trained here on the stories
// models/storyteller/corpus.py writes); the default sampling is StoryTellerModel.StoryOptions.
using System;
using System.Globalization;
using System.IO;
using System.Threading;
using Microsoft.ML.Tokenizers;
using SourceGenTransformer;
using SourceGenTransformer.Models;
using SourceGenTransformer.Text;

namespace StoryTeller;

public static class Program
{
    private static readonly GenerationOptions Defaults = StoryTellerModel.StoryOptions();

    private static readonly string Usage = FormattableString.Invariant($"""
        usage: StoryTeller [options] [prompt]

        Streams a story that continues the prompt (default: "Once upon a time"), until the model ends it.

        options:
          --max-tokens N     the most tokens to generate (default {Defaults.MaxNewTokens}: the whole context, so the story ends at EOS)
          --temperature T    0 = greedy (default {Defaults.Temperature})
          --top-k K          keep the K most likely tokens, 0 = off (default {Defaults.TopK})
          --top-p P          keep the smallest set of tokens whose probability reaches P (default {Defaults.TopP})
          --seed S           random seed; the same seed gives the same text (default: a fresh one each run)
          --model PATH       safetensors or llama2.c weights of the declared shape (default: storyteller.safetensors beside the program)
          --tokenizer PATH   SentencePiece tokenizer.model (default: tokenizer.model beside the program)
          -h, --help         show this help

        Tokens per second and time to first token are printed to stderr at the end. Ctrl+C stops cleanly.
        """);

    public static int Main(string[] args)
    {
        string prompt = "Once upon a time";
        string model = Path.Combine(AppContext.BaseDirectory, "storyteller.safetensors");
        string tokenizerPath = Path.Combine(AppContext.BaseDirectory, "tokenizer.model");
        GenerationOptions options = StoryTellerModel.StoryOptions();
        bool promptSet = false;

        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string arg = args[i];
                switch (arg)
                {
                    case "-h" or "--help":
                        Console.WriteLine(Usage);
                        return 0;
                    case "--max-tokens": options.MaxNewTokens = Int(Value(args, ref i), arg); break;
                    case "--temperature": options.Temperature = Float(Value(args, ref i), arg); break;
                    case "--top-k": options.TopK = Int(Value(args, ref i), arg); break;
                    case "--top-p": options.TopP = Float(Value(args, ref i), arg); break;
                    case "--seed": options.Seed = ulong.TryParse(Value(args, ref i), NumberStyles.None, CultureInfo.InvariantCulture, out ulong s) ? s : throw new UsageException($"--seed needs a non-negative whole number, got '{args[i]}'"); break;
                    case "--model": model = Value(args, ref i); break;
                    case "--tokenizer": tokenizerPath = Value(args, ref i); break;
                    default:
                        if (arg.StartsWith('-') && arg.Length > 1) throw new UsageException($"unknown option '{arg}' (see --help)");
                        if (promptSet) throw new UsageException("give the prompt as one argument (quote it)");
                        prompt = arg;
                        promptSet = true;
                        break;
                }
            }
            try
            {
                options.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new UsageException($"--{Flag(e.ParamName)}: {e.Message.Split(" (Parameter")[0]}");
            }
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"StoryTeller: {e.Message}");
            return 2;
        }

        try
        {
            Tokenizer tokenizer = TextGenerator.LoadSentencePiece(tokenizerPath);
            var generator = new TextGenerator(StoryTellerModel.Load(model), tokenizer);

            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true; // finish the current token, print the stats, exit normally
                cancel.Cancel();
            };

            Console.Write(prompt);
            foreach (string piece in generator.Generate(prompt, options, cancel.Token))
                Console.Write(piece);
            Console.WriteLine();

            if (generator.LastStats is { } stats)
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{stats.GeneratedTokens} tokens, {stats.TokensPerSecond:F1} tokens/s, first token after {stats.TimeToFirstToken.TotalMilliseconds:F1} ms{(cancel.IsCancellationRequested ? " (stopped by Ctrl+C)" : "")}"));
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"StoryTeller: {e.Message}");
            return 1;
        }
    }

    private static string Flag(string? option) => option switch
    {
        "MaxNewTokens" => "max-tokens",
        "Temperature" => "temperature",
        "TopK" => "top-k",
        "TopP" => "top-p",
        _ => option ?? "option",
    };

    private static string Value(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new UsageException($"{args[i - 1]} needs a value");

    private static int Int(string text, string flag) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v : throw new UsageException($"{flag} needs a whole number, got '{text}'");

    private static float Float(string text, string flag) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v : throw new UsageException($"{flag} needs a number, got '{text}'");

    private sealed class UsageException(string message) : Exception(message);
}
