#!/usr/bin/env bash
# Proves the packed package works on its own: `dotnet pack` the runtime project, check that the
# generator travels inside it under analyzers/dotnet/cs, then build and run a throwaway project
# that references only that package, declares a model, loads a PyTorch fixture and must print
# PyTorch's greedy tokens.
#
#   bash tests/package/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

dotnet pack "$root/src/SourceGenTransformer" -c Release -o "$work/feed" --nologo -v quiet
pkg="$(ls "$work"/feed/SourceGenTransformer.*.nupkg)"
version="$(basename "$pkg" .nupkg)"; version="${version#SourceGenTransformer.}"
python3 -m zipfile -l "$pkg" > "$work/contents.txt"  # to a file: grep -q on a pipe would SIGPIPE the lister under pipefail
grep -q "analyzers/dotnet/cs/SourceGenTransformer.Generator.dll" "$work/contents.txt" \
  || { echo "package check: the generator is not under analyzers/dotnet/cs in $pkg" >&2; exit 1; }
grep -q "lib/net10.0/SourceGenTransformer.dll" "$work/contents.txt" \
  || { echo "package check: lib/net10.0/SourceGenTransformer.dll missing from $pkg" >&2; exit 1; }

mkdir -p "$work/app"
cat > "$work/app/nuget.config" <<XML
<configuration>
  <packageSources>
    <add key="local" value="$work/feed" />
  </packageSources>
</configuration>
XML
cat > "$work/app/App.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
    <ImplicitUsings>enable</ImplicitUsings>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="SourceGenTransformer" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > "$work/app/Program.cs" <<'CS'
using SourceGenTransformer;

var model = PackagedLlama.Load(args[0]);
int[] prompt = args[1].Split(',').Select(int.Parse).ToArray();
Console.WriteLine(string.Join(",", model.Generate(prompt, new GenerationOptions { MaxNewTokens = 8 })));

[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1)]
partial class PackagedLlama;
CS

fixture="$root/tests/fixtures/llama-basic.json"
prompt="$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$fixture")"
expected="$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['greedy'][:8])))" "$fixture")"
actual="$(NUGET_PACKAGES="$work/packages" dotnet run --project "$work/app" -c Release -- "$root/tests/fixtures/llama-basic.safetensors" "$prompt" | tail -1)"
if [[ "$actual" != "$expected" ]]; then
  echo "package check: expected greedy tokens $expected, got $actual" >&2
  exit 1
fi
echo "package check: $(basename "$pkg") carries the generator; a project using only the package reproduced PyTorch's greedy tokens ($actual)"
