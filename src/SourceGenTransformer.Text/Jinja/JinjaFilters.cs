using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace SourceGenTransformer.Text.Jinja;

/// <summary>The filters and tests chat templates use, with Jinja2's semantics (and Hugging Face's tojson).</summary>
internal static class Filters
{
    public static object? Apply(string name, object? v, List<object?> a, Dictionary<string, object?> named)
    {
        object? Arg(int i, string key, object? fallback = null) => i < a.Count ? a[i] : named.TryGetValue(key, out object? x) ? x : fallback;
        switch (name)
        {
            case "trim": return Arg(0, "chars") is string chars ? Values.Str(v).Trim(chars.ToCharArray()) : Values.Str(v).Trim();
            case "upper": return Values.Str(v).ToUpperInvariant();
            case "lower": return Values.Str(v).ToLowerInvariant();
            case "title": return Title(Values.Str(v));
            case "capitalize": { string s = Values.Str(v); return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(); }
            case "string": return Values.Str(v);
            case "safe": return v;
            case "e":
            case "escape":
                return Values.Str(v).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");
            case "length":
            case "count":
                return v switch
                {
                    string s => (long)s.EnumerateRunes().Count(), // Python counts code points
                    List<object?> l => (long)l.Count,
                    OrderedDictionary<string, object?> d => (long)d.Count,
                    Undefined => 0L,
                    _ => throw new ChatTemplateException($"{Values.TypeName(v)} has no length"),
                };
            case "first": { var l = Values.Iterate(v, "first"); return l.Count > 0 ? l[0] : new Undefined("first of an empty sequence"); }
            case "last": { var l = Values.Iterate(v, "last"); return l.Count > 0 ? l[^1] : new Undefined("last of an empty sequence"); }
            case "list": return Values.Iterate(v, "list").ToList();
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(Values.Iterate(v, "reverse")).ToList();
            case "join":
            {
                string separator = Arg(0, "d", "") is string sep ? sep : "";
                IEnumerable<object?> items = Values.Iterate(v, "join");
                if (Arg(1, "attribute") is string attr) items = items.Select(x => Values.GetAttribute(x, attr));
                return string.Join(separator, items.Select(Values.Str));
            }
            case "default":
            case "d":
            {
                bool boolean = Values.Truthy(Arg(1, "boolean", false));
                bool use = v is Undefined || (boolean && !Values.Truthy(v));
                return use ? Arg(0, "default_value", "") : v;
            }
            case "int":
                return v switch
                {
                    long l => l,
                    double d => (long)Math.Truncate(d),
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long p) => p,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) => (long)Math.Truncate(f),
                    _ => Arg(0, "default", 0L),
                };
            case "float":
                return v switch
                {
                    long l => (double)l,
                    double d => d,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) => f,
                    _ => Arg(0, "default", 0.0),
                };
            case "abs": return v is long al ? (object)Math.Abs(al) : Math.Abs(Values.ToDouble(v));
            case "round":
            {
                long precision = Arg(0, "precision", 0L) is long p ? p : 0;
                return Math.Round(Values.ToDouble(v), (int)precision, MidpointRounding.ToEven);
            }
            case "replace": return Replace(Values.Str(v), a);
            case "items":
                if (v is OrderedDictionary<string, object?> dict) return dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList();
                if (v is Undefined) return new List<object?>();
                throw new ChatTemplateException($"items needs a dict, not {Values.TypeName(v)}");
            case "tojson": return Json(v, Arg(0, "indent") is long indent ? (int)indent : null, 0);
            case "selectattr":
            case "rejectattr":
            {
                bool keep = name == "selectattr";
                string attribute = Arg(0, "attribute") as string ?? throw new ChatTemplateException($"{name} needs an attribute name");
                string? test = a.Count > 1 ? a[1] as string : null;
                var rest = a.Skip(2).ToList();
                return Values.Iterate(v, name).Where(x =>
                {
                    object? value = Values.GetAttribute(x, attribute);
                    bool ok = test is null ? Values.Truthy(value) : Truthy(Test(test, value, rest));
                    return ok == keep;
                }).ToList();
            }
            case "select":
            case "reject":
            {
                bool keep = name == "select";
                string? test = a.Count > 0 ? a[0] as string : null;
                var rest = a.Skip(1).ToList();
                return Values.Iterate(v, name).Where(x => (test is null ? Values.Truthy(x) : Truthy(Test(test, x, rest))) == keep).ToList();
            }
            case "map":
            {
                if (named.TryGetValue("attribute", out object? attr) && attr is string attribute)
                    return Values.Iterate(v, "map").Select(x =>
                    {
                        object? r = Values.GetAttribute(x, attribute);
                        return r is Undefined && named.TryGetValue("default", out object? fallback) ? fallback : r;
                    }).ToList();
                if (a.Count > 0 && a[0] is string filter)
                    return Values.Iterate(v, "map").Select(x => Apply(filter, x, a.Skip(1).ToList(), [])).ToList();
                throw new ChatTemplateException("map needs attribute= or a filter name");
            }
            case "indent":
            {
                int width = Arg(0, "width", 4L) is long w ? (int)w : 4;
                bool first = Values.Truthy(Arg(1, "first", false)), blank = Values.Truthy(Arg(2, "blank", false));
                string pad = new(' ', width);
                string[] lines = Values.Str(v).Split('\n');
                for (int i = 0; i < lines.Length; i++)
                    if ((i > 0 || first) && (blank || lines[i].Length > 0)) lines[i] = pad + lines[i];
                return string.Join("\n", lines);
            }
            case "sum": return Values.Iterate(v, "sum").Aggregate((object?)0L, (acc, x) => Values.Arithmetic("+", acc, x));
            case "min": return Values.Iterate(v, "min").Aggregate((x, y) => Values.Compare(x, y) <= 0 ? x : y);
            case "max": return Values.Iterate(v, "max").Aggregate((x, y) => Values.Compare(x, y) >= 0 ? x : y);
            case "unique":
            {
                var seen = new List<object?>();
                foreach (object? x in Values.Iterate(v, "unique"))
                    if (!seen.Any(y => Values.Equal(x, y))) seen.Add(x);
                return seen;
            }
            case "wordcount": return (long)Values.Str(v).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            default:
                throw new ChatTemplateException($"the filter '{name}' is not supported by this template engine");
        }
    }

    private static bool Truthy(object? v) => Values.Truthy(v);

    public static object? Test(string name, object? v, List<object?> a) => name switch
    {
        "defined" => v is not Undefined,
        "undefined" => v is Undefined,
        "none" => v is null,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "mapping" => v is OrderedDictionary<string, object?>,
        "sequence" => v is List<object?> or string or OrderedDictionary<string, object?>,
        "iterable" => v is List<object?> or string or OrderedDictionary<string, object?>,
        "callable" => v is Callable,
        "lower" => v is string s && s == s.ToLowerInvariant(),
        "upper" => v is string s && s == s.ToUpperInvariant(),
        "even" => v is long l && l % 2 == 0,
        "odd" => v is long l && l % 2 != 0,
        "divisibleby" => v is long l && a.Count > 0 && a[0] is long n && n != 0 && l % n == 0,
        "equalto" or "eq" or "==" or "sameas" => a.Count > 0 && Values.Equal(v, a[0]),
        "ne" or "!=" => a.Count > 0 && !Values.Equal(v, a[0]),
        "in" => a.Count > 0 && Values.Contains(a[0], v),
        "gt" or ">" => a.Count > 0 && Values.Compare(v, a[0]) > 0,
        "ge" or ">=" => a.Count > 0 && Values.Compare(v, a[0]) >= 0,
        "lt" or "<" => a.Count > 0 && Values.Compare(v, a[0]) < 0,
        "le" or "<=" => a.Count > 0 && Values.Compare(v, a[0]) <= 0,
        _ => throw new ChatTemplateException($"the test '{name}' is not supported by this template engine"),
    };

    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool start = true;
        foreach (char c in s)
        {
            sb.Append(start ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            start = !char.IsLetterOrDigit(c);
        }
        return sb.ToString();
    }

    public static string Replace(string s, List<object?> a)
    {
        if (a.Count < 2 || a[0] is not string from) throw new ChatTemplateException("replace needs the old and the new string");
        string to = Values.Str(a[1]);
        if (a.Count < 3 || a[2] is not long count) return from.Length == 0 ? s : s.Replace(from, to, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int at = 0;
        for (long k = 0; k < count; k++)
        {
            int found = s.IndexOf(from, at, StringComparison.Ordinal);
            if (found < 0 || from.Length == 0) break;
            sb.Append(s, at, found - at).Append(to);
            at = found + from.Length;
        }
        return sb.Append(s, at, s.Length - at).ToString();
    }

    public static List<object?> Split(string s, List<object?> a)
    {
        long max = a.Count > 1 && a[1] is long m ? m : -1;
        if (a.Count == 0 || a[0] is null)
        {
            // Python's split(): runs of whitespace, no empty strings.
            var parts = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return parts.Cast<object?>().ToList();
        }
        string separator = Values.Str(a[0]);
        if (separator.Length == 0) throw new ChatTemplateException("split: empty separator");
        string[] pieces = max < 0 ? s.Split(separator) : s.Split(separator, (int)max + 1);
        return pieces.Cast<object?>().ToList();
    }

    /// <summary>
    /// json.dumps as Hugging Face's tojson calls it: ensure_ascii=False, separators ", " and ": " (",\n" with an
    /// indent), keys in order, floats as Python's repr.
    /// </summary>
    public static string Json(object? v, int? indent, int depth)
    {
        string Newline(int d) => indent is null ? "" : "\n" + new string(' ', indent.Value * d);
        string itemSeparator = indent is null ? ", " : ",";
        switch (v)
        {
            case null: return "null";
            case Undefined u: throw new ChatTemplateException($"'{u.Name}' is undefined, so it cannot be written as JSON");
            case bool b: return b ? "true" : "false";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : Values.FloatRepr(d);
            case string s: return JsonString(s);
            case List<object?> list:
                if (list.Count == 0) return "[]";
                return "[" + string.Join(itemSeparator, list.Select(x => Newline(depth + 1) + Json(x, indent, depth + 1))) + Newline(depth) + "]";
            case OrderedDictionary<string, object?> dict:
                if (dict.Count == 0) return "{}";
                return "{" + string.Join(itemSeparator, dict.Select(kv => Newline(depth + 1) + JsonString(kv.Key) + ": " + Json(kv.Value, indent, depth + 1))) + Newline(depth) + "}";
            case Namespace:
                throw new ChatTemplateException("a namespace cannot be written as JSON");
            default:
                return JsonString(Values.Str(v));
        }
    }

    private static string JsonString(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
