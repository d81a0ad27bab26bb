// Translator: numbers in digits to English words with the nn.Transformer model trained in models/translator.
//
//   dotnet run --project samples/Translator -- 4821
//   dotnet run --project samples/Translator -- 7 1999 250000 --beam 4
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using SourceGenTransformer;
using SourceGenTransformer.Models;

var numbers = new List<string>();
var options = new GenerationOptions { MaxNewTokens = 24 };
try
{
    for (int i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--beam":
                options.BeamWidth = ++i < args.Length ? int.Parse(args[i], CultureInfo.InvariantCulture) : throw new ArgumentException("--beam needs a width");
                break;
            case "--help" or "-h":
                Console.WriteLine("usage: Translator NUMBER... [--beam WIDTH]   (whole numbers from 0 to 999999)");
                return 0;
            default:
                if (args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unknown option {args[i]}");
                numbers.Add(args[i]);
                break;
        }
    }
    if (numbers.Count == 0)
    {
        Console.Error.WriteLine("usage: Translator NUMBER... [--beam WIDTH]   (whole numbers from 0 to 999999)");
        return 2;
    }

    using var model = NumberTranslator.Load(Path.Combine(AppContext.BaseDirectory, "translator.safetensors"));
    foreach (string number in numbers)
    {
        int[] words = model.Translate(NumberTranslator.EncodeNumber(number), options);
        Console.WriteLine(numbers.Count == 1 ? NumberTranslator.DecodeWords(words) : $"{number}: {NumberTranslator.DecodeWords(words)}");
    }
    return 0;
}
catch (Exception e) when (e is FormatException or ArgumentException or IOException or OverflowException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
