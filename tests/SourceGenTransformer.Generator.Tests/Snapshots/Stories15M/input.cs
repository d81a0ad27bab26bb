using SourceGenTransformer;

namespace Demo.Models;

[Transformer(ModelFamily.Llama,
    Layers = 6, Heads = 6, KvHeads = 6, ModelDim = 288, FeedForwardDim = 768,
    VocabSize = 32000, MaxSequenceLength = 256,
    Positional = PositionalEncoding.Rotary, RopeTheta = 10000f,
    Normalization = Normalization.RmsNorm, NormEpsilon = 1e-5f,
    Activation = Activation.SwiGlu, TiedEmbeddings = false)]
public partial class Stories15M;
