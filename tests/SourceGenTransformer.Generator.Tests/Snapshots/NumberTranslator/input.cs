using SourceGenTransformer;

namespace Demo.Translation;

// The original Transformer: post-norm, ReLU, sinusoidal positions, separate source and target vocabularies.
[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 3, DecoderLayers = 3, Heads = 4, ModelDim = 64, FeedForwardDim = 128,
    SourceVocabSize = 14, TargetVocabSize = 35, MaxSequenceLength = 32)]
public partial class NumberTranslator;
