using SourceGenTransformer;

namespace Demo;

public static partial class Models
{
    // Odd sizes: ModelDim 40 and head dim 10 are not multiples of 8; exact GELU; separate classifier.
    [Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 40, FeedForwardDim = 120,
        VocabSize = 70, MaxSequenceLength = 48, TiedEmbeddings = false, Activation = Activation.Gelu)]
    internal partial class TinyGpt2;
}
