namespace SourceGenTransformer.Generator.Helpers;

/// <summary>Names of the pipeline steps, so tests can assert what was cached.</summary>
internal static class TrackingNames
{
    public const string Parse = nameof(Parse);
    public const string ConfigFiles = nameof(ConfigFiles);
    public const string Build = nameof(Build);
    public const string Diagnostics = nameof(Diagnostics);
    public const string Language = nameof(Language);
    public const string Spec = nameof(Spec);
}
