using System.Collections.Generic;
using System.Linq;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The strings the tokenizers are checked on: prose, code, numbers, emoji, CJK and other scripts, whitespace runs,
/// invalid and unusual Unicode, and (per file) its special tokens inside text. <see cref="For"/> gives each base string
/// in four settings, more than 500 strings per file.
/// </summary>
public static class TokenizerStrings
{
    public static readonly string[] Base =
    [
        "", " ", "  ", "\n", "\t", "a", "A", " a", "a ", "Hello", "Hello world", "Hello, world!", "hello   world", "Hello\nworld",
        "Once upon a time, there was a little cat.", "The quick brown fox jumps over the lazy dog.", "I'm sure you'll see we've done it.",
        "DON'T SHOUT", "it's It'S IT'S", "they'd've", "e-mail, re-enter, co-operate", "U.S.A. and U.K.", "Mr. Smith's 3rd car.",
        "“Smart quotes” and ‘single ones’", "em — dash – en", "ellipsis… and more…", "naïve café résumé", "Ångström Øre Ææ",
        "Straße groß", "İstanbul ıi", "ﬁle ﬂow ﬃ", "x² + y² = z²", "½ ¼ ¾", "Ⅻ ⅻ", "١٢٣ ٤٥٦", "१२३", "０１２ full-width ＡＢＣ",
        "12345", "3.14159", "-42", "1,000,000", "1e-10", "0x1F 0b1010 0o17", "2024-12-02T17:10:36Z", "$100.00 €50 £30 ¥1000",
        "100%", "#hashtag @mention", "https://example.com/path?q=1&r=2#frag", "user@example.org", "C:\\Users\\me\\file.txt",
        "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) { sum += a[i]; }", "if x == 1:\n\tpass\n\telse:\n\t\tpass",
        "public static void Main(string[] args) => Console.WriteLine(\"hi\");", "<div class=\"x\">text</div>", "SELECT * FROM t WHERE id = 1;",
        "{\"key\": [1, 2, {\"nested\": null}], \"b\": true}", "a && b || !c", "x += 1; y -= 2; z *= 3; w /= 4;", "/* comment */ // line",
        "    indented four", "\t\ttabs", "trailing spaces   ", "   leading spaces", "mixed \t \n whitespace", "a\r\nb\r\nc",
        "line1\n\nline3\n\n\n", "     ", "\n\n\n", " \n ", "a  b   c    d", "word\u00A0nbsp", "zero\u200Bwidth", "\u3000ideographic space",
        "你好，世界！", "我爱自然语言处理。", "日本語のテキストです。", "カタカナ ひらがな", "한국어 텍스트", "中文English混合text",
        "Привет, мир!", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Xin chào thế giới",
        "😀", "😀😃😄", "I ❤️ you", "👨‍👩‍👧‍👦 family", "🇫🇷🇯🇵 flags", "👍🏽 thumbs", "emoji😀inside", "🙂 smile 🙃",
        "𝐀𝐁𝐂 bold math", "𠀀𠀁 extension B", "𝟘𝟙𝟚 double-struck digits", "𐍈 gothic", "a\u0301 combining", "e\u0301\u0302 two marks",
        "\u0000nul", "bell\u0007", "\uFFFD replacement", "\uFEFFbom", "private \uE000 use", "\u202Eright-to-left override",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababab", "!!!!!!!!!!", "??!!..", "-----", "=====", "_____",
        "tok_en_ize", "xyzzy", "a xyzzy b", "xyzzyx", "_xyzzy", "xyzzy!", "ﬁx ﬁxed", "camelCaseWords", "snake_case_words", "SCREAMING_CASE", "kebab-case-words", "PascalCase", "x1y2z3",
        "<s>", "</s>", "<unk>", "<0x41>", "▁already▁marked", "Ġspace Ċnewline", "##sub", "<|not_a_token|>", "<|im_start", "im_end|>",
        "The year 1999 had 365 days; 2000 had 366.", "Call 555-0123 now!", "Temperature: -3.5°C", "3 + 4 = 7", "a/b/c",
        "Q: What is 2+2?\nA: 4.", "- item one\n- item two\n* item three", "1. first\n2. second", "| a | b |\n|---|---|",
        "She said, \"Yes!\" and left.", "(parentheses) [brackets] {braces} <angles>", "tab\tseparated\tvalues", "semi;colon:colon",
    ];

    /// <summary>Every base string four ways: alone, after a space, before a newline, and around the file's special tokens.</summary>
    public static IEnumerable<string> For(IReadOnlyList<string> specials)
    {
        int k = 0;
        foreach (string s in Base)
        {
            yield return s;
            yield return " " + s;
            yield return s + "\n";
            string a = specials.Count > 0 ? specials[k % specials.Count] : "<s>";
            string b = specials.Count > 0 ? specials[(k + 1) % specials.Count] : "</s>";
            yield return (k % 3) switch
            {
                0 => a + s + b,
                1 => a + "\n" + s + " " + b + "\n",
                _ => "text " + a + " " + s + b + "tail",
            };
            k++;
        }
    }

    public static int Count => Base.Length * 4;

    public static string Show(string s) => string.Concat(s.Select(c => c < ' ' || c > '~' ? $"\\u{(int)c:X4}" : c.ToString()));
}
