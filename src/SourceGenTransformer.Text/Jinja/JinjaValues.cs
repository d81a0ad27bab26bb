using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace SourceGenTransformer.Text.Jinja;

/// <summary>A tuple literal, (a, b): a list that prints as Python prints a tuple.</summary>
internal sealed class Tuple : List<object?>
{
    public Tuple(IEnumerable<object?> items) : base(items)
    {
    }
}

/// <summary>
/// Python's semantics for the values a template handles: None, bool, int (long), float (double), str, list, dict
/// (insertion-ordered), namespace, loop and Undefined; their truth, equality, order, str() and repr().
/// </summary>
internal static class Values
{
    public static string TypeName(object? v) => v switch
    {
        null => "none",
        bool => "a boolean",
        long => "an integer",
        double => "a float",
        string => "a string",
        List<object?> => "a list",
        OrderedDictionary<string, object?> => "a dict",
        Undefined u => $"'{u.Name}' (undefined)",
        Namespace => "a namespace",
        Callable c => $"the function {c.Name}",
        _ => v.GetType().Name,
    };

    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        OrderedDictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    /// <summary>Python's str(): what {{ value }} prints.</summary>
    public static string Str(object? v) => v switch
    {
        Undefined => "",
        string s => s,
        _ => Repr(v),
    };

    /// <summary>Python's repr(), as str() of a list or dict prints its items.</summary>
    public static string Repr(object? v)
    {
        switch (v)
        {
            case null: return "None";
            case Undefined: return "";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FloatRepr(d);
            case string s: return StringRepr(s);
            case Tuple tuple: return "(" + string.Join(", ", tuple.Select(Repr)) + (tuple.Count == 1 ? ",)" : ")");
            case List<object?> list: return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case OrderedDictionary<string, object?> dict: return "{" + string.Join(", ", dict.Select(kv => StringRepr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case Namespace ns: return "<Namespace " + string.Join(", ", ns.Values.Select(kv => kv.Key + "=" + Repr(kv.Value))) + ">";
            default: return v.ToString() ?? "";
        }
    }

    /// <summary>Python's repr of a float: the shortest round-trip digits, positional for exponents -4..15, else d.ddde+XX.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        // The shortest round-trip digits and their decimal exponent, from .NET's "R" in exponent form.
        string shortest = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        string digits;
        int exponent;
        if (shortest.Contains('E'))
        {
            int at = shortest.IndexOf('E');
            digits = shortest[..at].Replace(".", "");
            exponent = int.Parse(shortest[(at + 1)..], CultureInfo.InvariantCulture);
        }
        else
        {
            int dot = shortest.IndexOf('.');
            string whole = dot < 0 ? shortest : shortest[..dot], fraction = dot < 0 ? "" : shortest[(dot + 1)..];
            string all = (whole + fraction).TrimStart('0');
            int leadingZeros = (whole + fraction).Length - all.Length;
            digits = all;
            exponent = whole.Length - 1 - leadingZeros;
        }
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        string sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16)
        {
            if (exponent >= digits.Length - 1) return sign + digits + new string('0', exponent - digits.Length + 1) + ".0";
            if (exponent >= 0) return sign + digits[..(exponent + 1)] + "." + digits[(exponent + 1)..];
            return sign + "0." + new string('0', -exponent - 1) + digits;
        }
        string mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }

    private static string StringRepr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (char c in s)
        {
            if (c == quote || c == '\\') sb.Append('\\').Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (c < ' ') sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.Append(quote).ToString();
    }

    public static List<object?> Iterate(object? v, string where) => v switch
    {
        List<object?> l => l,
        OrderedDictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
        Undefined => [],
        _ => throw new ChatTemplateException($"{TypeName(v)} cannot be iterated ({where})"),
    };

    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => x == y,
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out object? other) && Equal(kv.Value, other)),
            _ => ReferenceEquals(a, b),
        };
    }

    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        throw new ChatTemplateException($"cannot compare {TypeName(a)} with {TypeName(b)}");
    }

    public static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string t => s.Contains(t, StringComparison.Ordinal),
        string => throw new ChatTemplateException($"'in <string>' needs a string on the left, not {TypeName(item)}"),
        List<object?> l => l.Any(x => Equal(x, item)),
        OrderedDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        Undefined u => throw new ChatTemplateException($"'{u.Name}' is undefined"),
        _ => throw new ChatTemplateException($"{TypeName(container)} is not a container for 'in'"),
    };

    private static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new ChatTemplateException($"{TypeName(v)} is not a number"),
    };

    public static object? Arithmetic(string op, object? a, object? b)
    {
        if (op == "+")
        {
            if (a is string x && b is string y) return x + y;
            if (a is List<object?> l && b is List<object?> m) return l.Concat(m).ToList();
        }
        if (op == "*")
        {
            if (a is string s && b is long n) return string.Concat(Enumerable.Repeat(s, (int)Math.Max(0, n)));
            if (a is List<object?> l && b is long k) return Enumerable.Repeat(l, (int)Math.Max(0, k)).SelectMany(x => x).ToList();
        }
        if (op == "%" && a is string) throw new ChatTemplateException("printf-style string formatting is not supported; use ~ or + to join strings");
        if (!IsNumber(a) || !IsNumber(b))
            throw new ChatTemplateException($"unsupported operand types for {op}: {TypeName(a)} and {TypeName(b)}");
        bool ints = (a is long or bool) && (b is long or bool);
        if (ints)
        {
            long x = (long)ToDouble(a), y = (long)ToDouble(b);
            switch (op)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "//": if (y == 0) throw new ChatTemplateException("integer division by zero"); return (long)Math.Floor((double)x / y);
                case "%": if (y == 0) throw new ChatTemplateException("integer modulo by zero"); return ((x % y) + y) % y;
                case "**": return y >= 0 ? (object)(long)Math.Pow(x, y) : Math.Pow(x, y);
            }
        }
        double p = ToDouble(a), q = ToDouble(b);
        return op switch
        {
            "+" => p + q,
            "-" => p - q,
            "*" => p * q,
            "/" => q == 0 ? throw new ChatTemplateException("division by zero") : p / q,
            "//" => Math.Floor(p / q),
            "%" => p - q * Math.Floor(p / q),
            "**" => Math.Pow(p, q),
            _ => throw new ChatTemplateException($"unknown operator {op}"),
        };
    }

    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case Undefined u:
                throw new ChatTemplateException($"'{u.Name}' is undefined, so it has no attribute '{name}'");
            case OrderedDictionary<string, object?> d:
                if (d.TryGetValue(name, out object? value)) return value;
                return (object?)DictMethod(d, name) ?? new Undefined(name);
            case Namespace ns:
                return ns.Values.TryGetValue(name, out object? v) ? v : new Undefined(name);
            case LoopInfo loop:
                return loop.Attribute(name);
            case string s:
                return (object?)StringMethod(s, name) ?? new Undefined(name);
            case List<object?> l when name is "append" or "pop" or "insert" or "extend" or "clear":
                throw new ChatTemplateException($"lists cannot be modified in a chat template (the sandbox refuses {name})");
            case null:
                throw new ChatTemplateException($"none has no attribute '{name}'");
            default:
                return new Undefined(name);
        }
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case List<object?> l when key is long i:
                long at = i < 0 ? l.Count + i : i;
                return at >= 0 && at < l.Count ? l[(int)at] : new Undefined($"[{i}]");
            case string s when key is long i:
                long sat = i < 0 ? s.Length + i : i;
                return sat >= 0 && sat < s.Length ? s[(int)sat].ToString() : new Undefined($"[{i}]");
            case OrderedDictionary<string, object?> d when key is string k:
                return d.TryGetValue(k, out object? v) ? v : new Undefined(k);
            case Undefined u:
                throw new ChatTemplateException($"'{u.Name}' is undefined, so it cannot be indexed");
            default:
                return key is string name ? GetAttribute(target, name) : new Undefined("[" + Repr(key) + "]");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        long? Int(object? v) => v is null or Undefined ? null : v is long l ? l : throw new ChatTemplateException("slice bounds must be integers");
        long by = Int(step) ?? 1;
        if (by == 0) throw new ChatTemplateException("a slice step cannot be zero");
        int count = target switch
        {
            List<object?> l => l.Count,
            string s => s.Length,
            _ => throw new ChatTemplateException($"{TypeName(target)} cannot be sliced"),
        };
        // Python's slice.indices.
        long Clamp(long? v, long fallback)
        {
            if (v is null) return fallback;
            long x = v.Value < 0 ? v.Value + count : v.Value;
            return by > 0 ? Math.Clamp(x, 0, count) : Math.Clamp(x, -1, count - 1);
        }
        long from = Clamp(Int(start), by > 0 ? 0 : count - 1), to = Clamp(Int(stop), by > 0 ? count : -1);
        var indices = new List<int>();
        for (long i = from; by > 0 ? i < to : i > to; i += by) indices.Add((int)i);
        return target is string str ? string.Concat(indices.Select(i => str[i])) : indices.Select(i => ((List<object?>)target!)[i]).ToList();
    }

    private static Callable? StringMethod(string s, string name) => name switch
    {
        "strip" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string c ? s.Trim(c.ToCharArray()) : s.Trim()),
        "lstrip" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string c ? s.TrimStart(c.ToCharArray()) : s.TrimStart()),
        "rstrip" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string c ? s.TrimEnd(c.ToCharArray()) : s.TrimEnd()),
        "upper" => new Callable(name, (_, _) => s.ToUpperInvariant()),
        "lower" => new Callable(name, (_, _) => s.ToLowerInvariant()),
        "title" => new Callable(name, (_, _) => Filters.Title(s)),
        "capitalize" => new Callable(name, (_, _) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant()),
        "startswith" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string p && s.StartsWith(p, StringComparison.Ordinal)),
        "endswith" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string p && s.EndsWith(p, StringComparison.Ordinal)),
        "replace" => new Callable(name, (a, _) => Filters.Replace(s, a)),
        "split" => new Callable(name, (a, _) => Filters.Split(s, a)),
        "find" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string p ? (long)s.IndexOf(p, StringComparison.Ordinal) : -1L),
        "count" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string p && p.Length > 0 ? (long)((s.Length - s.Replace(p, "", StringComparison.Ordinal).Length) / p.Length) : 0L),
        "join" => new Callable(name, (a, _) => string.Join(s, Iterate(a.Count > 0 ? a[0] : null, "join").Select(Str))),
        _ => null,
    };

    private static Callable? DictMethod(OrderedDictionary<string, object?> d, string name) => name switch
    {
        "items" => new Callable(name, (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()),
        "keys" => new Callable(name, (_, _) => d.Keys.Cast<object?>().ToList()),
        "values" => new Callable(name, (_, _) => d.Values.ToList()),
        "get" => new Callable(name, (a, _) => a.Count > 0 && a[0] is string k && d.TryGetValue(k, out object? v) ? v : a.Count > 1 ? a[1] : null),
        _ => null,
    };
}
