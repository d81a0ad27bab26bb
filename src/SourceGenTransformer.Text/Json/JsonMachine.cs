using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace SourceGenTransformer.Text.Json;

/// <summary>
/// The character automaton of a <see cref="GrammarNode"/> grammar, built lazily: a state is the set of parse stacks
/// still alive (frames of node and position), interned to an id; its transitions on characters are memoised, and so is
/// its token table (every vocabulary token whose text it can read, and the state after it). A state also knows whether
/// the document may end there and the fewest characters that end it, so that decoding under a token budget always
/// leaves room to finish. Thread-safe: one machine serves concurrent generations.
/// </summary>
internal sealed class JsonMachine
{
    private const int End = -1;
    private const int MaxStates = 200_000;

    private readonly List<GrammarNode> _nodes = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<State> _states = [];
    private readonly object _lock = new();

    public JsonMachine(GrammarNode root)
    {
        Register(root);
        var initial = new List<int[]>();
        Push([], root, initial);
        Initial = Intern(initial);
    }

    /// <summary>The state before the document's first character.</summary>
    public int Initial { get; }

    /// <summary>States made so far.</summary>
    public int StateCount
    {
        get
        {
            lock (_lock) return _states.Count;
        }
    }

    public bool IsAccepting(int state)
    {
        lock (_lock) return _states[state].Accepting;
    }

    /// <summary>The fewest characters that end a document from <paramref name="state"/> (0 when it may end now).</summary>
    public int Distance(int state)
    {
        lock (_lock) return _states[state].Distance;
    }

    /// <summary>The state after reading <paramref name="c"/>, or -1 when no document goes on with it.</summary>
    public int Next(int state, char c)
    {
        lock (_lock) return NextLocked(state, c);
    }

    /// <summary>The state after reading <paramref name="text"/>, or -1.</summary>
    public int Next(int state, string text)
    {
        lock (_lock)
        {
            foreach (char c in text)
                if ((state = NextLocked(state, c)) < 0) return -1;
            return state;
        }
    }

    /// <summary>The token table of a state, built on first use from <paramref name="vocabulary"/> (the same one each time).</summary>
    public TokenTable Table(int state, TokenVocabulary vocabulary)
    {
        State s;
        lock (_lock)
        {
            s = _states[state];
            if (s.Table is { } table) return table;
        }
        TokenTable built = Build(state, vocabulary);
        lock (_lock) return s.Table ??= built;
    }

    private TokenTable Build(int state, TokenVocabulary vocabulary)
    {
        var ids = new List<int>();
        var nexts = new List<int>();
        string[] texts = vocabulary.SortedTexts;
        int[] tokenIds = vocabulary.SortedIds;
        var path = new int[vocabulary.MaxLength + 1];
        path[0] = state;
        string previous = "";
        int valid = 0;   // path[0..valid] are the states after previous[..valid]
        int dead = int.MaxValue; // previous[..dead] leads nowhere
        lock (_lock)
        {
            for (int t = 0; t < texts.Length; t++)
            {
                string text = texts[t];
                int common = 0, limit = Math.Min(text.Length, previous.Length);
                while (common < limit && text[common] == previous[common]) common++;
                previous = text;
                if (common >= dead) continue; // shares a prefix no document takes
                dead = int.MaxValue;
                valid = Math.Min(valid, common);
                int k = valid;
                for (; k < text.Length; k++)
                {
                    int next = NextLocked(path[k], text[k]);
                    if (next < 0)
                    {
                        dead = k + 1;
                        break;
                    }
                    path[k + 1] = next;
                }
                valid = k;
                if (k < text.Length) continue;
                ids.Add(tokenIds[t]);
                nexts.Add(path[text.Length]);
            }
            // By id, for Advance's binary search, with each next state's distance to an end.
            int[] byId = ids.ToArray(), after = nexts.ToArray();
            Array.Sort(byId, after);
            var distances = new int[after.Length];
            for (int i = 0; i < distances.Length; i++) distances[i] = _states[after[i]].Distance;
            return new TokenTable(byId, after, distances, vocabulary.Size);
        }
    }

    private int NextLocked(int state, char c)
    {
        State s = _states[state];
        if (c < 128)
        {
            int cached = s.Ascii[c];
            if (cached != -2) return cached;
        }
        else if (s.Other.TryGetValue(c, out int known))
        {
            return known;
        }
        var outs = new List<int[]>();
        foreach (int[] stack in s.Stacks) Step(stack, c, outs);
        int next = outs.Count == 0 ? -1 : Intern(outs);
        if (c < 128) s.Ascii[c] = next;
        else s.Other[c] = next;
        return next;
    }

    private void Register(GrammarNode node)
    {
        if (node.Id >= 0) return;
        node.Id = _nodes.Count;
        _nodes.Add(node);
        foreach (GrammarNode child in node.Children) Register(child);
        if (node.Item is not null) Register(node.Item);
        MinLength(node);
    }

    private static int MinLength(GrammarNode n)
    {
        if (n.MinLength >= 0) return n.MinLength;
        n.MinLength = int.MaxValue / 4; // a cycle cannot be shorter than itself
        int item = n.Item is null ? 0 : MinLength(n.Item);
        n.MinLength = n.Kind switch
        {
            NodeKind.Literal => n.Text.Length,
            NodeKind.Sequence => n.Children.Sum(MinLength),
            NodeKind.Choice => n.Children.Min(MinLength),
            NodeKind.String => 2,
            NodeKind.Number or NodeKind.Integer => 1,
            NodeKind.Array => n.MinItems == 0 ? 2 : 2 + n.MinItems * item + n.MinItems - 1,
            _ => 2,
        };
        return n.MinLength;
    }

    private int Intern(List<int[]> stacks)
    {
        var keys = stacks.Select(Key).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToArray();
        string key = string.Join("\uFFFF", keys);
        if (_ids.TryGetValue(key, out int id)) return id;
        if (_states.Count >= MaxStates)
            throw new NotSupportedException($"The JSON schema's automaton passed {MaxStates} states; simplify the schema (fewer choices, smaller item counts).");
        var unique = new List<int[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (int[] s in stacks)
            if (seen.Add(Key(s))) unique.Add(s);
        var state = new State(unique.ToArray());
        var ends = new List<int[]>();
        foreach (int[] s in state.Stacks) Step(s, End, ends);
        state.Accepting = ends.Any(e => e.Length == 1 && e[0] == -1);
        state.Distance = state.Stacks.Min(StackDistance);
        id = _states.Count;
        _states.Add(state);
        _ids[key] = id;
        return id;
    }

    private static string Key(int[] stack)
    {
        var sb = new StringBuilder(stack.Length);
        foreach (int v in stack) sb.Append((char)(v & 0xFFFF)).Append((char)(v >> 16));
        return sb.ToString();
    }

    private static readonly int[] s_accept = [-1];

    private static int[] With(int[] stack, int node, int sub)
    {
        var s = new int[stack.Length + 2];
        stack.CopyTo(s, 0);
        s[^2] = node;
        s[^1] = sub;
        return s;
    }

    private static int[] Top(int[] stack, int sub)
    {
        var s = (int[])stack.Clone();
        s[^1] = sub;
        return s;
    }

    private static int[] Pop(int[] stack) => stack[..^2];

    /// <summary>The stacks after entering <paramref name="node"/> on top of <paramref name="stack"/> (reading nothing).</summary>
    private void Push(int[] stack, GrammarNode node, List<int[]> outs)
    {
        switch (node.Kind)
        {
            case NodeKind.Literal when node.Text.Length == 0:
                Resume(stack, outs);
                break;
            case NodeKind.Sequence when node.Children.Length == 0:
                Resume(stack, outs);
                break;
            case NodeKind.Sequence:
                Push(With(stack, node.Id, 1), node.Children[0], outs);
                break;
            case NodeKind.Choice:
                foreach (GrammarNode alternative in node.Children) Push(stack, alternative, outs);
                break;
            default:
                outs.Add(With(stack, node.Id, 0));
                break;
        }
    }

    /// <summary>The stacks after the node on top of <paramref name="stack"/> finished (already popped).</summary>
    private void Resume(int[] stack, List<int[]> outs)
    {
        if (stack.Length == 0)
        {
            outs.Add(stack);
            return;
        }
        GrammarNode top = _nodes[stack[^2]];
        if (top.Kind != NodeKind.Sequence)
        {
            outs.Add(stack); // an array or map frame already knows what follows its item
            return;
        }
        int next = stack[^1];
        if (next < top.Children.Length) Push(Top(stack, next + 1), top.Children[next], outs);
        else Resume(Pop(stack), outs);
    }

    /// <summary>The stacks after reading <paramref name="c"/> (<see cref="End"/>: the end of the document).</summary>
    private void Step(int[] stack, int c, List<int[]> outs)
    {
        if (stack.Length == 0)
        {
            if (c == End) outs.Add(s_accept);
            return;
        }
        GrammarNode n = _nodes[stack[^2]];
        int sub = stack[^1];
        switch (n.Kind)
        {
            case NodeKind.Literal:
                if (c == n.Text[sub])
                {
                    if (sub + 1 == n.Text.Length) Resume(Pop(stack), outs);
                    else outs.Add(Top(stack, sub + 1));
                }
                break;
            case NodeKind.String:
                StepString(stack, sub, c, outs);
                break;
            case NodeKind.Number:
            case NodeKind.Integer:
                StepNumber(stack, n.Kind == NodeKind.Integer, sub, c, outs);
                break;
            case NodeKind.Array:
            {
                int phase = sub & 3, count = sub >> 2;
                int cap = n.MaxItems >= 0 ? n.MaxItems : n.MinItems;
                if (phase == 0)
                {
                    if (c == '[') outs.Add(Top(stack, 1));
                }
                else if (phase == 1)
                {
                    if (c == ']' && n.MinItems == 0) Resume(Pop(stack), outs);
                    else if (c != ']' && c != End && n.MaxItems != 0) StepInto(Top(stack, 2 | Math.Min(count + 1, cap) << 2), n.Item!, c, outs);
                }
                else
                {
                    if (c == ',' && (n.MaxItems < 0 || count < n.MaxItems)) Push(Top(stack, 2 | Math.Min(count + 1, cap) << 2), n.Item!, outs);
                    else if (c == ']' && count >= n.MinItems) Resume(Pop(stack), outs);
                }
                break;
            }
            case NodeKind.Map:
                switch (sub)
                {
                    case 0:
                        if (c == '{') outs.Add(Top(stack, 1));
                        break;
                    case 1:
                        if (c == '}') Resume(Pop(stack), outs);
                        else if (c == '"') StepInto(Top(stack, 2), n.Children[0], c, outs);
                        break;
                    case 2:
                        if (c == ':') Push(Top(stack, 3), n.Children[1], outs);
                        break;
                    default:
                        if (c == ',') Push(Top(stack, 2), n.Children[0], outs);
                        else if (c == '}') Resume(Pop(stack), outs);
                        break;
                }
                break;
        }
    }

    /// <summary>Enters <paramref name="node"/> and reads <paramref name="c"/> in it.</summary>
    private void StepInto(int[] stack, GrammarNode node, int c, List<int[]> outs)
    {
        var entered = new List<int[]>();
        Push(stack, node, entered);
        foreach (int[] s in entered) Step(s, c, outs);
    }

    // String phases: 0 before the opening quote, 1 inside, 2 after a backslash, 3..6 after \u and 0..3 hex digits.
    private void StepString(int[] stack, int sub, int c, List<int[]> outs)
    {
        switch (sub)
        {
            case 0:
                if (c == '"') outs.Add(Top(stack, 1));
                break;
            case 1:
                if (c == '"') Resume(Pop(stack), outs);
                else if (c == '\\') outs.Add(Top(stack, 2));
                else if (c >= 0x20) outs.Add(stack);
                break;
            case 2:
                if (c is '"' or '\\' or '/' or 'b' or 'f' or 'n' or 'r' or 't') outs.Add(Top(stack, 1));
                else if (c == 'u') outs.Add(Top(stack, 3));
                break;
            default:
                if (c is >= '0' and <= '9' or >= 'a' and <= 'f' or >= 'A' and <= 'F') outs.Add(Top(stack, sub == 6 ? 1 : sub + 1));
                break;
        }
    }

    /// <summary>The most digits of an integer: 9, so that every integer fits an Int32 (JSON schema sets no bound, C# types do).</summary>
    public const int IntegerDigits = 9;

    /// <summary>The most digits before and after a number's point (a double's precision), and in its exponent (a double's range).</summary>
    public const int NumberDigits = 15, ExponentDigits = 2;

    // Number phases (sub & 15): 0 start, 1 after '-', 2 after a leading 0, 3 in integer digits, 4 after '.', 5 in fraction
    // digits, 6 after e/E, 7 after the exponent's sign, 8 in exponent digits; sub >> 4 counts the digits of the current run.
    // 2, 3, 5 and 8 may end the number. Runs are bounded so that every number reads back as the C# type a schema maps to.
    private void StepNumber(int[] stack, bool integer, int sub, int c, List<int[]> outs)
    {
        int phase = sub & 15, run = sub >> 4;
        bool digit = c is >= '0' and <= '9';
        int limit = phase switch { 3 => integer ? IntegerDigits : NumberDigits, 5 => NumberDigits, _ => ExponentDigits };
        int next = phase switch
        {
            0 => c == '-' ? 1 : c == '0' ? 2 : digit ? 3 | 1 << 4 : -1,
            1 => c == '0' ? 2 : digit ? 3 | 1 << 4 : -1,
            2 => !integer && c == '.' ? 4 : !integer && c is 'e' or 'E' ? 6 : -1,
            3 => digit && run < limit ? 3 | (run + 1) << 4 : !integer && c == '.' ? 4 : !integer && c is 'e' or 'E' ? 6 : -1,
            4 => digit ? 5 | 1 << 4 : -1,
            5 => digit && run < limit ? 5 | (run + 1) << 4 : c is 'e' or 'E' ? 6 : -1,
            6 => c is '+' or '-' ? 7 : digit ? 8 | 1 << 4 : -1,
            7 => digit ? 8 | 1 << 4 : -1,
            _ => digit && run < limit ? 8 | (run + 1) << 4 : -1,
        };
        if (next >= 0)
        {
            outs.Add(Top(stack, next));
            return;
        }
        if (phase is 2 or 3 or 5 or 8)
        {
            // The number ends here; the character belongs to what follows it.
            var after = new List<int[]>();
            Resume(Pop(stack), after);
            foreach (int[] s in after) Step(s, c, outs);
        }
    }

    private int StackDistance(int[] stack)
    {
        int total = 0;
        for (int i = 0; i < stack.Length; i += 2)
        {
            GrammarNode n = _nodes[stack[i]];
            int sub = stack[i + 1];
            bool top = i == stack.Length - 2;
            int item = n.Item?.MinLength ?? 0;
            total += n.Kind switch
            {
                NodeKind.Literal => n.Text.Length - sub,
                NodeKind.Sequence => n.Children.Skip(sub).Sum(ch => ch.MinLength),
                NodeKind.String => sub switch { 0 => 2, 1 => 1, 2 => 2, _ => 7 - sub + 1 },
                NodeKind.Number or NodeKind.Integer => (sub & 15) is 2 or 3 or 5 or 8 ? 0 : 1,
                NodeKind.Array => (sub & 3) switch
                {
                    0 => 1 + (n.MinItems == 0 ? 1 : n.MinItems * item + n.MinItems - 1 + 1),
                    1 => n.MinItems == 0 ? 1 : n.MinItems * item + n.MinItems - 1 + 1,
                    _ => Math.Max(0, n.MinItems - (sub >> 2)) * (item + 1) + 1,
                },
                NodeKind.Map => sub switch { 0 => 2, 1 => 1, 2 => (top ? 1 : 1) + n.Children[1].MinLength + 1, _ => 1 },
                _ => 0,
            };
        }
        return total;
    }

    private sealed class State(int[][] stacks)
    {
        public int[][] Stacks { get; } = stacks;
        public int[] Ascii { get; } = Enumerable.Repeat(-2, 128).ToArray();
        public Dictionary<char, int> Other { get; } = [];
        public bool Accepting { get; set; }
        public int Distance { get; set; }
        public TokenTable? Table { get; set; }
    }
}

/// <summary>
/// The tokens a state can read, by id: the state after each, and that state's distance to an end. A table that allows
/// most of the vocabulary (inside a string) also keeps the ids it does not allow, so masking it touches only those.
/// </summary>
internal sealed class TokenTable
{
    public TokenTable(int[] ids, int[] next, int[] distance, int vocabSize)
    {
        Ids = ids;
        Next = next;
        Distance = distance;
        MaxDistance = distance.Length == 0 ? 0 : distance.Max();
        if (ids.Length > vocabSize / 2)
        {
            var disallowed = new List<int>(vocabSize - ids.Length);
            for (int id = 0, k = 0; id < vocabSize; id++)
            {
                if (k < ids.Length && ids[k] == id) k++;
                else disallowed.Add(id);
            }
            Disallowed = disallowed.ToArray();
        }
    }

    public int[] Ids { get; }

    public int[] Next { get; }

    public int[] Distance { get; }

    /// <summary>The largest distance of any next state: a budget beyond it needs no per-token check.</summary>
    public int MaxDistance { get; }

    /// <summary>For a table that allows most tokens, every other id below the vocabulary size; else null.</summary>
    public int[]? Disallowed { get; }
}
