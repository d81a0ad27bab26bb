namespace SourceGenTransformer.Tests;

/// <summary>Sentences written for the embedding tests: short, long (over 128 tokens), accented, emoji, numbers, capitals, one character.</summary>
internal static class EmbeddingSentences
{
    private const string LongA =
        "The generator reads the declaration at compile time, works out every size the model needs, and writes kernels whose loops " +
        "run over constants, so that the JIT or the ahead-of-time compiler can unroll them and keep the accumulators in registers; " +
        "the weights are read once, checked against the shapes the declaration promises, and laid out in panels that the matrix " +
        "products stream through, while the session keeps its key and value cache in arrays allocated when it is created, which is " +
        "why decoding a token allocates nothing and why a model that does not fit is refused before it runs rather than after.";

    private const string LongB =
        "In the spring of 1887, the engineers of the northern railway met in a small hall near the harbour to argue, for three long " +
        "days, about whether the new bridge should be built of iron or of stone; the iron party pointed to the speed of construction " +
        "and the lightness of the span, the stone party to the storms that came in from the sea each winter and to the old bridge at " +
        "the mouth of the river, which had stood for four hundred years, and in the end they compromised on stone piers carrying iron " +
        "girders, a design that was admired by visitors, cursed by the painters who had to keep it from rusting, and still stands today.";

    private const string LongC =
        "Semantic search ranks passages by the cosine of the angle between their embeddings and the embedding of the query. " +
        "A good embedding model puts paraphrases close together even when they share no words, and keeps unrelated passages apart " +
        "even when they share many. Because the embeddings are normalised, the cosine is a dot product, and a corpus of a few thousand " +
        "passages can be searched exhaustively in well under a millisecond on one core. Larger corpora use approximate indexes such " +
        "as HNSW graphs or inverted files with product quantisation, trading a little recall for orders of magnitude in speed, and " +
        "the embedding model itself is usually the slowest step, which is why running it efficiently on the CPU matters so much.";

    public static readonly string[] All =
    [
        // One character, and very short.
        "a",
        "?",
        "Hi",
        "Yes.",
        "No way!",
        "OK",
        // Everyday sentences.
        "The cat sat on the mat.",
        "A man is playing a guitar.",
        "How do I reset my password?",
        "What is the capital of France?",
        "Paris is the capital and most populous city of France.",
        "The weather is lovely today, isn't it?",
        "I forgot my umbrella and got soaked on the way home.",
        "Please send the report by Friday afternoon.",
        "Machine learning models can be deployed on edge devices.",
        "The quick brown fox jumps over the lazy dog.",
        "She sells sea shells by the sea shore.",
        "Can you recommend a good book about the history of mathematics?",
        "Our flight was delayed by three hours because of fog.",
        "He has been learning to play the piano since he was seven.",
        "Transformers use attention to mix information across positions.",
        "A sentence embedding maps text to a vector of fixed length.",
        "Load the model once and reuse it for every request.",
        "The library runs without any native dependencies.",
        "Does this package support NativeAOT?",
        "Water boils at one hundred degrees Celsius at sea level.",
        "Tokenizers split words into pieces from a fixed vocabulary.",
        "The children built a snowman in the garden.",
        "Stock markets fell sharply after the announcement.",
        "My favourite colour is blue, but I also like green.",
        // Accents and other scripts.
        "Café au lait, s'il vous plaît.",
        "Crème brûlée is a French dessert.",
        "São Paulo é a maior cidade do Brasil.",
        "Müller und Schröder gehen über die Straße.",
        "El niño comió piña en la mañana.",
        "Ångström, Øresund and Þingvellir.",
        "Naïve résumé of a coöperative façade.",
        "Ελληνικά γράμματα και λέξεις.",
        "Москва — столица России.",
        "東京は日本の首都です。",
        // Emoji and symbols.
        "I love pizza 🍕🍕!",
        "Good morning ☀️ have a great day 😊",
        "🚀 launch at dawn",
        "Thumbs up 👍 from the whole team 🎉🎉🎉",
        "❤️",
        "Price: €42.50 (incl. VAT) — 10% off!",
        "email me at someone@example.com or call +1-555-0100",
        "#hashtag @mention http://example.com/path?q=1&r=2",
        // Numbers.
        "3.14159265358979",
        "The meeting is at 10:30 on 2024-05-17.",
        "Order #123456 shipped 7 items weighing 12.5 kg.",
        "1 2 3 4 5 6 7 8 9 10",
        "In 1969, 600 million people watched the landing.",
        "Version 2.0.1 fixed 37 bugs and added 4 features.",
        // Capitals.
        "THIS IS A SENTENCE IN CAPITAL LETTERS.",
        "PLEASE DO NOT SHOUT",
        "NASA and the ESA launched a joint mission.",
        "HELLO WORLD",
        // Long (over 128 tokens).
        LongA,
        LongB,
        LongC,
        LongA + " " + LongB,
        // Whitespace and punctuation runs.
        "   spaces   around   words   ",
        "Wait... what?!? Really???",
        "line one\nline two\ttabbed",
    ];

    /// <summary>Paraphrase pairs and an unrelated text for each: the paraphrase must score higher.</summary>
    public static readonly (string Text, string Paraphrase, string Unrelated)[] Retrieval =
    [
        ("How do I reset my password?", "I forgot my password, how can I change it?", "The train leaves at seven in the morning."),
        ("The cat sat on the mat.", "A cat was sitting on a rug.", "Interest rates rose by a quarter point."),
        ("A man is playing a guitar.", "Someone is strumming a guitar.", "The soup needs more salt."),
        ("What is the capital of France?", "Which city is France's capital?", "My laptop battery drains quickly."),
        ("The weather is lovely today.", "It is a beautiful sunny day.", "He filed his tax return late."),
        ("Our flight was delayed by three hours.", "The plane took off three hours late.", "She is learning to knit a scarf."),
        ("Stock markets fell sharply after the announcement.", "Share prices dropped steeply following the news.", "The puppy chased its tail."),
        ("Water boils at one hundred degrees Celsius.", "At 100 °C water starts to boil.", "The museum opens on Sundays."),
        ("Please send the report by Friday.", "The report is due at the end of the week.", "Penguins live in the southern hemisphere."),
        ("Does this package support NativeAOT?", "Can I compile this library ahead of time to native code?", "Bake the bread for forty minutes."),
        ("The children built a snowman.", "Kids made a snowman in the yard.", "The contract was signed in Geneva."),
        ("I love pizza!", "Pizza is my favourite food.", "The bridge was closed for repairs."),
    ];
}
