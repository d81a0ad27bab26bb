using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The BERT text front end against Hugging Face's tokenizers (the Rust library, through Tokenizers.DotNet), configured
/// as all-MiniLM-L6-v2's tokenizer.json is: BertNormalizer (lowercase, accents stripped), BertPreTokenizer, WordPiece
/// over the package's vocab.txt, [CLS] A [SEP] (B [SEP]).
/// </summary>
public sealed class HfTokenizerTests : IClassFixture<RealEmbeddingTests.Engines>, IDisposable
{
    private readonly RealEmbeddingTests.Engines _engines;
    private readonly string _json = Path.Combine(Path.GetTempPath(), $"stg-hf-tokenizer-{Environment.ProcessId}.json");

    public HfTokenizerTests(RealEmbeddingTests.Engines engines)
    {
        _engines = engines;
        File.WriteAllText(_json, TokenizerJson(File.ReadAllLines(RealModels.Vocab)));
    }

    public void Dispose() => File.Delete(_json);

    /// <summary>The tokenizer.json of bert-base-uncased and all-MiniLM-L6-v2, over a vocab.txt.</summary>
    internal static string TokenizerJson(string[] vocab)
    {
        int Id(string t) => Array.IndexOf(vocab, t);
        string Special(string t) => $"{{\"id\":{Id(t)},\"content\":\"{t}\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}}";
        var o = new StringBuilder();
        o.Append("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
        o.Append(string.Join(",", new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }.Select(Special)));
        o.Append("],\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true},");
        o.Append("\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},");
        o.Append("\"post_processor\":{\"type\":\"TemplateProcessing\",");
        o.Append("\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],");
        o.Append("\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],");
        o.Append($"\"special_tokens\":{{\"[CLS]\":{{\"id\":\"[CLS]\",\"ids\":[{Id("[CLS]")}],\"tokens\":[\"[CLS]\"]}},\"[SEP]\":{{\"id\":\"[SEP]\",\"ids\":[{Id("[SEP]")}],\"tokens\":[\"[SEP]\"]}}}}}},");
        o.Append("\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},");
        o.Append("\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":{");
        o.Append(string.Join(",", vocab.Select((t, i) => JsonSerializer.Serialize(t) + ":" + i)));
        o.Append("}}}");
        return o.ToString();
    }

    [Fact]
    public void Every_test_sentence_tokenizes_as_hugging_face_tokenizes_it()
    {
        using var hf = new Tokenizers.DotNet.Tokenizer(_json);
        using var generator = new TextEmbeddingGenerator(_engines.MiniLM, TextEmbeddingGenerator.CreateTokenizer(RealModels.Vocab));
        string[] extra =
        [
            "tab\there", "a\u00A0non-breaking space", "zero\u200Bwidth", "control\u0007bell", "ÀÉÎÕÜ", "ﬁ ligature",
            new string('x', 100), new string('x', 101) + " tail", "中文字符和English混合", "Ŝŧřäňğę çhàŕš", "<html>&amp;</html>",
        ];
        foreach (string text in EmbeddingSentences.All.Concat(extra))
        {
            int[] expected = hf.Encode(text).Select(x => (int)x).ToArray();
            Assert.True(expected.SequenceEqual(generator.Tokenize(text)),
                $"\"{text}\": Hugging Face {string.Join(",", expected)}, ours {string.Join(",", generator.Tokenize(text))}");
        }
    }
}
