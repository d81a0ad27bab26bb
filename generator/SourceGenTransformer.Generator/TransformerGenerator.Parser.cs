using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SourceGenTransformer.Generator.Config;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;

namespace SourceGenTransformer.Generator;

public sealed partial class TransformerGenerator
{
    /// <summary>
    /// Turns one <c>[Transformer]</c> declaration into a <see cref="ModelSpec"/> with the family's
    /// defaults applied, or into diagnostics. The only code that sees symbols and syntax.
    /// </summary>
    internal static class Parser
    {
        // The largest element count of a .NET array (Array.MaxLength), which bounds every engine buffer.
        private const long MaxElements = 0x7FFFFFC7;

        /// <summary>
        /// Reads one declaration into plain values: its names, the attribute's arguments with their locations, and
        /// what is wrong with the class itself. The only code that sees symbols and syntax.
        /// </summary>
        public static Declaration Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var type = (INamedTypeSymbol)context.TargetSymbol;
            var declaration = (ClassDeclarationSyntax)context.TargetNode;
            AttributeData attribute = context.Attributes[0];
            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            var diagnostics = new List<DiagnosticInfo>();
            CheckDeclaration(type, declaration, diagnostics);
            cancellationToken.ThrowIfCancellationRequested();

            LocationInfo? where = LocationInfo.From(attributeSyntax?.GetLocation()) ?? LocationInfo.From(declaration.Identifier.GetLocation());
            var arguments = new List<Argument>();
            foreach (KeyValuePair<string, TypedConstant> named in attribute.NamedArguments)
            {
                LocationInfo? at = null;
                foreach (AttributeArgumentSyntax arg in attributeSyntax?.ArgumentList?.Arguments ?? default)
                    if (arg.NameEquals?.Name.Identifier.ValueText == named.Key)
                        at = LocationInfo.From(arg.GetLocation());
                arguments.Add(new Argument(named.Key, named.Value.Kind == TypedConstantKind.Array ? null : named.Value.Value, at ?? where));
            }
            int family = attribute.ConstructorArguments.Length > 0 && attribute.ConstructorArguments[0].Value is int f ? f : 0;
            LocationInfo? familyAt = LocationInfo.From(attributeSyntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals is null)?.GetLocation()) ?? where;

            var containing = new List<string>();
            for (SyntaxNode? node = declaration.Parent; node is TypeDeclarationSyntax outer; node = outer.Parent)
                containing.Insert(0, "partial " + TypeKeyword(outer) + " " + outer.Identifier.ValueText);
            string? ns = type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString();
            return new Declaration(ns, type.Name, new EquatableArray<string>(containing), type.ToDisplayString(), family, familyAt,
                new EquatableArray<Argument>(arguments), where, new EquatableArray<DiagnosticInfo>(diagnostics));
        }

        /// <summary>
        /// Turns a declaration, with its config.json when it names one, into a <see cref="ModelSpec"/> with the family's
        /// defaults applied, or into diagnostics.
        /// </summary>
        public static Result<ModelSpec> Build(Declaration declaration, EquatableArray<ProjectFile> files, CancellationToken cancellationToken)
        {
            var diagnostics = new List<DiagnosticInfo>(declaration.Diagnostics);
            Arguments? args = ConfigDeclaration.Arguments(declaration, files, diagnostics, cancellationToken);
            ModelShape? shape = args is null ? null : ReadShape(args, diagnostics);
            if (shape is null || diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error))
                return new Result<ModelSpec>(null, new EquatableArray<DiagnosticInfo>(diagnostics), declaration.Location);

            var spec = new ModelSpec(declaration.Namespace, declaration.ClassName, declaration.ContainingTypes, declaration.DisplayName, shape);
            return new Result<ModelSpec>(spec, new EquatableArray<DiagnosticInfo>(diagnostics), declaration.Location);
        }

        private static string TypeKeyword(TypeDeclarationSyntax type) => type switch
        {
            RecordDeclarationSyntax r when r.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) => "record struct",
            RecordDeclarationSyntax => "record",
            _ => type.Keyword.ValueText,
        };

        private static void CheckDeclaration(INamedTypeSymbol type, ClassDeclarationSyntax declaration, List<DiagnosticInfo> diagnostics)
        {
            LocationInfo? name = LocationInfo.From(declaration.Identifier.GetLocation());
            if (!declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotPartial, name, type.Name));
            for (SyntaxNode? node = declaration.Parent; node is TypeDeclarationSyntax outer; node = outer.Parent)
            {
                if (!outer.Modifiers.Any(SyntaxKind.PartialKeyword))
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotPartial, LocationInfo.From(outer.Identifier.GetLocation()), outer.Identifier.ValueText));
                if (outer.TypeParameterList is not null)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedDeclaration, name, type.Name, $"it is nested in the generic type '{outer.Identifier.ValueText}'"));
            }
            if (type.IsGenericType)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedDeclaration, name, type.Name, "it is generic; a model's shapes are fixed, so declare a non-generic class"));
            if (type.IsStatic)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedDeclaration, name, type.Name, "it is static; a loaded model is an instance that holds its weights"));
        }

        private static ModelShape? ReadShape(Arguments args, List<DiagnosticInfo> diagnostics)
        {
            var family = (Family)args.Family;
            if (!Enum.IsDefined(typeof(Family), family))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.FamilyNotSupported, args.FamilyLocation,
                    "(ModelFamily)" + args.Family.ToString(CultureInfo.InvariantCulture)));
                return null;
            }
            FamilyRules rules = FamilyRules.For(family)!;
            bool single = rules.SingleStack;

            // Properties the family does not read are ignored, with a warning.
            foreach (string name in rules.Ignored)
                if (args.IsSet(name))
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PropertyIgnored, args.Location(name), name, family.ToString()));

            // Required dimensions.
            int Required(string name)
            {
                int value = args.Int(name, 0);
                if (value <= 0)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DimensionNotPositive, args.Location(name),
                        name, args.IsSet(name) ? value.ToString(CultureInfo.InvariantCulture) : "not set", family.ToString()));
                return value;
            }
            int layers = single ? Required("Layers") : 0;
            int encoderLayers = single ? 0 : Required("EncoderLayers");
            int decoderLayers = single ? 0 : Required("DecoderLayers");
            int heads = Required("Heads");
            int modelDim = Required("ModelDim");
            int ffn = Required("FeedForwardDim");
            int vocab = rules.SingleVocabulary ? Required("VocabSize") : 0;
            int sourceVocab = rules.SingleVocabulary ? 0 : Required("SourceVocabSize");
            int targetVocab = rules.SingleVocabulary ? 0 : Required("TargetVocabSize");
            int maxSeq = Required("MaxSequenceLength");

            int kvHeads = Array.IndexOf(rules.Ignored, "KvHeads") >= 0 ? 0 : args.Int("KvHeads", 0);
            if (kvHeads < 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("KvHeads"),
                    "KvHeads", kvHeads.ToString(CultureInfo.InvariantCulture), "it must be 0 (meaning Heads) or a positive number"));
                kvHeads = 0;
            }
            if (kvHeads == 0) kvHeads = heads;

            // Options, with the family's defaults.
            var positional = (Positional)args.Int("Positional", 0);
            if (positional == Positional.Default) positional = rules.Positional;
            var norm = (Norm)args.Int("Normalization", 0);
            if (norm == Norm.Default) norm = rules.Norm;
            var activation = (Act)args.Int("Activation", 0);
            if (activation == Act.GeGlu && !args.Bool("Gemma", false) || activation < Act.Default || activation > Act.GeGlu)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("Activation"),
                    "Activation", "(Activation)" + ((int)activation).ToString(CultureInfo.InvariantCulture), "it must be Relu, Gelu, GeluTanh or SwiGlu"));
                activation = Act.Default;
            }
            if (activation == Act.Default) activation = rules.Activation;
            bool normFirst = args.Bool("NormFirst", false);
            float ropeTheta = args.Float("RopeTheta", 10000f);
            float epsilon = args.Float("NormEpsilon", rules.NormEpsilon);
            bool tied = args.Bool("TiedEmbeddings", rules.TiedEmbeddings);
            int bos = args.Int("BosToken", rules.BosToken);
            int eos = args.Int("EosToken", rules.EosToken);
            int pad = args.Int("PadToken", rules.PadToken);
            var precision = (Precision)args.Int("WeightPrecision", 0);
            if (precision == Precision.Default) precision = Precision.Float32;
            if (!Enum.IsDefined(typeof(Precision), precision))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("WeightPrecision"),
                    "WeightPrecision", "(WeightPrecision)" + ((int)precision).ToString(CultureInfo.InvariantCulture), "it must be Float32, BFloat16, Int8, Q4_0 or Q4K"));
                precision = Precision.Float32;
            }

            var pooling = (Pooling)args.Int("Pooling", 0);
            if (pooling == Pooling.Default) pooling = Pooling.Mean;
            if (!Enum.IsDefined(typeof(Pooling), pooling))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("Pooling"),
                    "Pooling", "(EmbeddingPooling)" + ((int)pooling).ToString(CultureInfo.InvariantCulture), "it must be Mean, Cls or Max"));
                pooling = Pooling.Mean;
            }
            bool normalize = args.Bool("NormalizeEmbeddings", true);
            int typeVocab = family == Family.Bert ? args.Int("TypeVocabSize", 2) : 0;
            if (family == Family.Bert && typeVocab <= 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DimensionNotPositive, args.Location("TypeVocabSize"),
                    "TypeVocabSize", typeVocab.ToString(CultureInfo.InvariantCulture), family.ToString()));

            static string Quantised(Precision p) => p switch
            {
                Precision.Q4_0 => "4-bit weights are quantised in Q4_0 blocks of 32",
                Precision.Q4K => "K-quant weights are quantised in blocks of 256, or of 32 where a row is not whole blocks of 256",
                _ => "8-bit weights are quantised in groups of 32 or 64",
            };

            void Unsupported(string property, string value, string why) =>
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.OptionNotSupported, args.Location(property), property, value, family.ToString(), why));

            // What the family's weights cannot express (FamilyRules).
            if (rules.RefusedPositional.TryGetValue(positional, out string? why))
                Unsupported("Positional", positional.ToString(), why);
            if (rules.RefusedNorm.TryGetValue(norm, out why))
                Unsupported("Normalization", norm.ToString(), why);
            if (rules.RefusedActivation.TryGetValue(activation, out why))
                Unsupported("Activation", activation.ToString(), why);
            if (kvHeads != heads && rules.GroupedQueryRefusal is { } groups)
                Unsupported("KvHeads", kvHeads.ToString(CultureInfo.InvariantCulture), groups);
            if (normFirst && rules.PreNormRefusal is { } post)
                Unsupported("NormFirst", "true", post);

            if (precision != Precision.Float32 && rules.LighterWeightsRefusal is { } encoders)
                Unsupported("WeightPrecision", precision.ToString(), encoders);
            else if (precision == Precision.Q4K && family != Family.Llama)
                Unsupported("WeightPrecision", precision.ToString(), "Q4K is llama.cpp's K-quant mix, whose GGUF files are of the Llama-family architectures; GPT-2 takes Int8 or Q4_0");
            else if (precision is Precision.Int8 or Precision.Q4_0 or Precision.Q4K && (modelDim % 32 != 0 || ffn % 32 != 0))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("WeightPrecision"),
                    "WeightPrecision", precision.ToString(), $"{Quantised(precision)} along each row, so ModelDim ({modelDim.ToString(CultureInfo.InvariantCulture)}) and FeedForwardDim ({ffn.ToString(CultureInfo.InvariantCulture)}) must be multiples of 32"));

            if (positional != Positional.Rotary && args.IsSet("RopeTheta"))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PropertyIgnored, args.Location("RopeTheta"), "RopeTheta", family + " without rotary positions"));
            if (!(epsilon > 0f) || float.IsInfinity(epsilon))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("NormEpsilon"),
                    "NormEpsilon", Literal(epsilon), "it must be a finite number greater than 0"));
            if (!(ropeTheta > 1f) || float.IsInfinity(ropeTheta))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("RopeTheta"),
                    "RopeTheta", Literal(ropeTheta), "the rotary base must be a finite number greater than 1"));

            // Special tokens must lie in the vocabulary they index (the target side for BOS and EOS).
            bool seq2seq = !rules.SingleVocabulary;
            int tokenVocab = seq2seq ? targetVocab : vocab;
            string tokenVocabName = seq2seq ? "TargetVocabSize" : "VocabSize";
            foreach ((string name, int id, int size, string sizeName) in new[]
            {
                ("BosToken", bos, tokenVocab, tokenVocabName),
                ("EosToken", eos, tokenVocab, tokenVocabName),
                ("PadToken", pad, seq2seq ? Math.Min(sourceVocab, targetVocab) : vocab, seq2seq ? "min(SourceVocabSize, TargetVocabSize)" : "VocabSize"),
            })
            {
                if (id < -1 || (size > 0 && id >= size))
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location(name),
                        name, id.ToString(CultureInfo.InvariantCulture), $"a token id must be -1 (none) or in [0, {sizeName} = {size})"));
            }
            // Every id that ends generation: a config.json's EOS list, else EosToken.
            var eosTokens = args.Value("EosTokens") is EquatableArray<int> list ? list : new EquatableArray<int>(eos >= 0 ? [eos] : []);
            foreach (int id in eosTokens)
                if (id != eos && tokenVocab > 0 && id >= tokenVocab)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("EosTokens"),
                        "EosToken", id.ToString(CultureInfo.InvariantCulture), $"a token id must be in [0, {tokenVocabName} = {tokenVocab})"));
            if (seq2seq && (bos < 0 || eos < 0))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location(bos < 0 ? "BosToken" : "EosToken"),
                    bos < 0 ? "BosToken" : "EosToken", "-1", "translation starts at BosToken and ends at EosToken, so both must be set"));

            // A config.json's head_dim: heads need not split ModelDim then (HfConfig checked it is even under RoPE).
            int headDim = args.Int("HeadDim", 0);
            if (headDim > 0 && heads > 0 && modelDim > 0 && headDim * heads == modelDim) headDim = 0;
            if (headDim > 0)
            {
                if (heads > 0 && kvHeads > 0 && heads % kvHeads != 0)
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.HeadsNotDivisibleByKvHeads, args.Location("KvHeads"),
                        heads.ToString(CultureInfo.InvariantCulture), kvHeads.ToString(CultureInfo.InvariantCulture)));
            }
            else if (heads > 0 && modelDim > 0 && modelDim % heads != 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ModelDimNotDivisibleByHeads, args.Location("Heads"),
                    modelDim.ToString(CultureInfo.InvariantCulture), heads.ToString(CultureInfo.InvariantCulture)));
            else if (heads > 0 && kvHeads > 0 && heads % kvHeads != 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.HeadsNotDivisibleByKvHeads, args.Location("KvHeads"),
                    heads.ToString(CultureInfo.InvariantCulture), kvHeads.ToString(CultureInfo.InvariantCulture)));
            else if (heads > 0 && modelDim > 0 && positional == Positional.Rotary && (modelDim / heads) % 2 != 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RotaryOddHeadDim, args.Location(args.IsSet("Positional") ? "Positional" : "Heads"),
                    modelDim.ToString(CultureInfo.InvariantCulture), heads.ToString(CultureInfo.InvariantCulture), (modelDim / heads).ToString(CultureInfo.InvariantCulture)));

            if (diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error))
                return null;

            var shape = new ModelShape(family, layers, encoderLayers, decoderLayers, heads, kvHeads, modelDim, ffn,
                vocab, sourceVocab, targetVocab, maxSeq, positional, ropeTheta, norm, normFirst, epsilon, activation,
                tied, bos, eos, pad, precision, pooling, normalize, typeVocab, eosTokens)
            {
                // What only a config.json declares (HfConfig): validated there, located in the file.
                ModelType = args.Value("ModelType") as string,
                QkvBias = args.Bool("QkvBias", false),
                OutBias = args.Bool("OutBias", false),
                MlpBias = args.Bool("MlpBias", false),
                SlidingWindow = args.Int("SlidingWindow", 0),
                RopeScaleFactor = args.Float("RopeScaleFactor", 0f),
                RopeLowFreqFactor = args.Float("RopeLowFreqFactor", 0f),
                RopeHighFreqFactor = args.Float("RopeHighFreqFactor", 0f),
                RopeOriginalLength = args.Int("RopeOriginalLength", 0),
                HeadDimOverride = headDim,
                QkNorm = args.Bool("QkNorm", false),
                Gemma = args.Bool("Gemma", false),
                HasSamplingDefaults = args.IsSet("SampleTemperature"),
                SampleTemperature = args.Float("SampleTemperature", 0f),
                SampleTopK = args.Int("SampleTopK", 0),
                SampleTopP = args.Float("SampleTopP", 1f),
                SampleMaxNewTokens = args.Int("SampleMaxNewTokens", 256),
                FusedProjections = args.Bool("FusedProjections", false),
            };
            // A config's partial_rotary_factor: the first RotaryDim dimensions of each head rotate (all of them is the default).
            int rotary = args.Int("RotaryDim", 0);
            if (rotary > 0 && rotary < shape.HeadDim) shape = shape with { RotaryDimOverride = rotary };
            if (precision is Precision.Int8 or Precision.Q4_0 or Precision.Q4K && shape.QueryDim % 32 != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, args.Location("WeightPrecision"),
                    "WeightPrecision", precision.ToString(), $"{Quantised(precision)} along each row, so the query width Heads x HeadDim ({shape.QueryDim.ToString(CultureInfo.InvariantCulture)}) must be a multiple of 32"));
                return null;
            }

            // Every buffer the engine indexes with int must fit in one .NET array.
            long dim = modelDim, kv = shape.KvDim;
            long stackLayers = Math.Max(layers, Math.Max(encoderLayers, decoderLayers));
            long largestVocab = Math.Max(vocab, Math.Max(sourceVocab, targetVocab));
            foreach ((string what, long count) in new[]
            {
                ("The token embedding (vocabulary x ModelDim)", largestVocab * dim),
                ("The stacked attention weights (layers x 3 ModelDim x ModelDim)", stackLayers * shape.QkvDim * dim),
                ("The stacked feed-forward weights (layers x FeedForwardDim x ModelDim)", stackLayers * ffn * dim),
                ("The KV cache (layers x MaxSequenceLength x KvDim)", stackLayers * maxSeq * kv),
                ("The attention scores (Heads x MaxSequenceLength)", heads * (long)maxSeq),
                ("The position table (MaxSequenceLength x ModelDim)", maxSeq * dim),
                ("The encoder activations (MaxSequenceLength x FeedForwardDim)", maxSeq * (long)Math.Max(ffn, 3 * modelDim)),
            })
            {
                if (count > MaxElements)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOverflow, args.Location(null),
                        what, count.ToString(CultureInfo.InvariantCulture), MaxElements.ToString(CultureInfo.InvariantCulture)));
                    return null;
                }
            }
            return shape;
        }

        internal static string Literal(float value) => value.ToString("R", CultureInfo.InvariantCulture);

        /// <summary>The declaration's properties by name, each with where it was written (the attribute or the config.json).</summary>
        internal sealed class Arguments
        {
            private readonly Dictionary<string, Argument> _named = new(StringComparer.Ordinal);
            private readonly LocationInfo? _fallback;

            public Arguments(int family, LocationInfo? familyLocation, IEnumerable<Argument> named, LocationInfo? fallback)
            {
                Family = family;
                FamilyLocation = familyLocation ?? fallback;
                foreach (Argument arg in named) _named[arg.Name] = arg;
                _fallback = fallback;
            }

            public int Family { get; }

            public LocationInfo? FamilyLocation { get; }

            public bool IsSet(string name) => _named.ContainsKey(name);

            public object? Value(string name) => _named.TryGetValue(name, out Argument? a) ? a.Value : null;

            public int Int(string name, int fallback) => _named.TryGetValue(name, out Argument? a) && a.Value is int v ? v : fallback;

            public float Float(string name, float fallback) => _named.TryGetValue(name, out Argument? a) && a.Value is float v ? v : fallback;

            public bool Bool(string name, bool fallback) => _named.TryGetValue(name, out Argument? a) && a.Value is bool v ? v : fallback;

            /// <summary>Where <paramref name="name"/> was written, else the attribute (or the class name).</summary>
            public LocationInfo? Location(string? name) =>
                name is not null && _named.TryGetValue(name, out Argument? a) && a.Location is not null ? a.Location : _fallback;
        }
    }
}
