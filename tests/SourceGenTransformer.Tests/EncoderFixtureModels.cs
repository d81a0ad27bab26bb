using SourceGenTransformer;

namespace SourceGenTransformer.Tests;

// Declarations of the encoder fixtures written by tests/fixtures/make_encoder_fixtures.py.

[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 2, DecoderLayers = 2, Heads = 4, ModelDim = 32, FeedForwardDim = 64,
    SourceVocabSize = 23, TargetVocabSize = 31, MaxSequenceLength = 24)]
public partial class S2sPostRelu;

[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 2, DecoderLayers = 3, Heads = 3, ModelDim = 36, FeedForwardDim = 72,
    SourceVocabSize = 29, TargetVocabSize = 17, MaxSequenceLength = 24, NormFirst = true, Activation = Activation.Gelu)]
public partial class S2sPreGelu;

[Transformer(ModelFamily.Bert, Layers = 2, Heads = 4, ModelDim = 32, FeedForwardDim = 64, VocabSize = 50, MaxSequenceLength = 40)]
public partial class BertBasic;

[Transformer(ModelFamily.Bert, Layers = 3, Heads = 3, ModelDim = 36, FeedForwardDim = 50, VocabSize = 41, MaxSequenceLength = 32)]
public partial class BertOdd;

// 150 tokens: attention over several blocks of keys and groups of queries (AttentionEmitter.EmitQueries).
[Transformer(ModelFamily.Bert, Layers = 2, Heads = 2, ModelDim = 32, FeedForwardDim = 64, VocabSize = 50, MaxSequenceLength = 160)]
public partial class BertLong;

// s2s-post-relu's shapes with a longer context than its 64-row position table holds.
[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 2, DecoderLayers = 2, Heads = 4, ModelDim = 32, FeedForwardDim = 64,
    SourceVocabSize = 23, TargetVocabSize = 31, MaxSequenceLength = 100)]
public partial class S2sLongContext;
