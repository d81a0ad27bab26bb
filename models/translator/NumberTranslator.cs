// The digits-to-words translator trained by models/translator/train.py, shared by samples/Translator and the tests.
using System;
using System.Collections.Generic;
using System.Text;
using SourceGenTransformer;

namespace SourceGenTransformer.Models;

/// <summary>
/// Numbers written in digits to English words ("4821" to "four thousand eight hundred twenty-one"): the
/// encoder-decoder of PyTorch's nn.Transformer translation tutorial, post-norm, ReLU, 3 + 3 layers, trained here.
/// </summary>
[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 3, DecoderLayers = 3, Heads = 4, ModelDim = 64, FeedForwardDim = 128,
    SourceVocabSize = 14, TargetVocabSize = 35, MaxSequenceLength = 32, BosToken = 2, EosToken = 3, PadToken = 1)]
public partial class NumberTranslator
{
    /// <summary>The largest number the model was trained on.</summary>
    public const int MaxNumber = 999_999;

    /// <summary>Source tokens: the tutorial's four specials, then the digits (models/translator/vocab.json).</summary>
    public static readonly string[] SourceVocabulary = ["<unk>", "<pad>", "<bos>", "<eos>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>Target tokens: the four specials, then the words; the hyphen of "twenty-one" is its own token.</summary>
    public static readonly string[] TargetVocabulary =
    [
        "<unk>", "<pad>", "<bos>", "<eos>",
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "-",
    ];

    /// <summary>"4821" to BOS 4 8 2 1 EOS as source ids; throws <see cref="FormatException"/> naming the input when it is not a number the model knows.</summary>
    public static int[] EncodeNumber(string digits)
    {
        ArgumentNullException.ThrowIfNull(digits);
        if (digits.Length == 0 || digits.Length > 6 || (digits.Length > 1 && digits[0] == '0'))
            throw new FormatException($"'{digits}' is not a whole number from 0 to {MaxNumber} written without leading zeros.");
        var ids = new int[digits.Length + 2];
        ids[0] = BosToken;
        for (int i = 0; i < digits.Length; i++)
        {
            if (digits[i] is < '0' or > '9')
                throw new FormatException($"'{digits}' is not a whole number from 0 to {MaxNumber}: '{digits[i]}' is not a digit.");
            ids[i + 1] = 4 + (digits[i] - '0');
        }
        ids[^1] = EosToken;
        return ids;
    }

    /// <summary>Target ids to text: words separated by spaces, hyphens joined ("twenty-one").</summary>
    public static string DecodeWords(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        bool joinNext = false;
        foreach (int id in ids)
        {
            string word = (uint)id < (uint)TargetVocabulary.Length ? TargetVocabulary[id] : "<unk>";
            if (word == "-")
            {
                text.Append('-');
                joinNext = true;
                continue;
            }
            if (text.Length > 0 && !joinNext) text.Append(' ');
            text.Append(word);
            joinNext = false;
        }
        return text.ToString();
    }

    /// <summary>The English words for <paramref name="n"/>, written by rule: the reference the model is checked against.</summary>
    public static string NumberToWords(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(n, MaxNumber);
        if (n < 1000) return UnderThousand(n);
        string words = UnderThousand(n / 1000) + " thousand";
        return n % 1000 == 0 ? words : words + " " + UnderThousand(n % 1000);
    }

    private static string UnderThousand(int n)
    {
        var parts = new List<string>();
        if (n >= 100)
        {
            parts.Add(TargetVocabulary[4 + n / 100] + " hundred");
            n %= 100;
            if (n == 0) return string.Join(' ', parts);
        }
        if (n >= 20) parts.Add(TargetVocabulary[24 + n / 10 - 2] + (n % 10 != 0 ? "-" + TargetVocabulary[4 + n % 10] : ""));
        else if (n > 0 || parts.Count == 0) parts.Add(TargetVocabulary[4 + n]);
        return string.Join(' ', parts);
    }
}
