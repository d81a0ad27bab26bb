// QuickStart: declare a model, load its weights, stream generated token ids.
//
//   dotnet run -c Release --project samples/QuickStart [-- [weights.safetensors] [--temperature T] [--seed S] [--max-tokens N]]
//
// The default weights are a small random Llama written by PyTorch (tests/fixtures/llama-basic.safetensors):
// the tokens are meaningless, but they are exactly the ones PyTorch picks on the same weights.
using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using SourceGenTransformer;

namespace QuickStart;

// The generator turns this declaration into a complete engine for exactly these shapes.
[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1)]
public partial class TinyLlama;

public static class Program
{
    public static int Main(string[] args)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "llama-basic.safetensors");
        var options = new GenerationOptions { MaxNewTokens = 32 };
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--temperature": options.Temperature = float.Parse(Value(args, ref i), CultureInfo.InvariantCulture); break;
                    case "--seed": options.Seed = ulong.Parse(Value(args, ref i), CultureInfo.InvariantCulture); break;
                    case "--max-tokens": options.MaxNewTokens = int.Parse(Value(args, ref i), CultureInfo.InvariantCulture); break;
                    case "--help" or "-h":
                        Console.WriteLine("usage: QuickStart [weights.safetensors] [--temperature T] [--seed S] [--max-tokens N]");
                        return 0;
                    default:
                        if (args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unknown option {args[i]}");
                        path = args[i];
                        break;
                }
            }

            using TinyLlama model = TinyLlama.Load(path);
            Console.WriteLine($"TinyLlama: {TinyLlama.Layers} layers, ModelDim {TinyLlama.ModelDim}, {TinyLlama.Heads} heads, {TinyLlama.ParameterCount:N0} parameters");
            int[] prompt = [TinyLlama.BosToken, 42, 7];
            Console.Write($"prompt {string.Join(' ', prompt)} ->");

            var clock = Stopwatch.StartNew();
            int count = 0;
            foreach (int token in model.Generate(prompt, options))
            {
                Console.Write($" {token}");
                count++;
            }
            clock.Stop();
            Console.WriteLine();
            Console.Error.WriteLine($"{count} tokens in {clock.Elapsed.TotalMilliseconds:F1} ms");
            return 0;
        }
        catch (Exception e) when (e is IOException or ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static string Value(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
}
