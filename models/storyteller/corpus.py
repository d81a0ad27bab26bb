#!/usr/bin/env python3
"""A grammar of simple children's stories: writes the StoryTeller corpus, and checks text against the grammar.

Standard library only (no PyTorch), so the tests can run the checker anywhere.

    python3 corpus.py write OUT.txt [--stories N] [--seed S]   one story per line, seeded and deterministic
    python3 corpus.py check FILE [--json]                      stories separated by lines holding only "---"
                                                               (or one per line): sentence and story verdicts
    python3 corpus.py sample [--seed S]                        print one story

A story is a sequence of sentences. Every sentence is an instance of one of the TEMPLATES below: literal words
with slots. A slot names a word class (a name, a kind of animal, an object, ...) and, for characters, a role:
M is the story's main character, H its helper, O the object the story is about. Generation fills the slots
from the story's state, so a character keeps its name, kind and pronouns, and the problem met is the one solved:

    intro -> liking -> wish -> problem -> feeling -> helper -> dialogue -> the fix that problem needs -> thanks -> ending

`check` decides two things by parsing, not by remembering the corpus:
  * a sentence is *grammatical* when some template matches it (each slot matched by a word of its class);
  * a story is *consistent* when its sentences can be parsed with one main character and one helper throughout:
    the main character introduced in the first sentence with a name, a kind and pronouns that fit the name
    (a girl's name takes she/her, a boy's he/him/his, and the kind "girl"/"boy" agrees), every later mention of
    M or H the same name and kind with the right pronouns, the helper not the main character, and every object
    mention the one introduced. It also reports whether each fix template used is one that fits the problem met.
"""
import argparse
import json
import random
import re
import sys

GIRLS = ["Lily", "Mia", "Sue", "Anna", "Lucy", "Emma", "Zoe", "Ella", "Rose", "Amy", "Kim", "Sara", "Ruby", "Ivy",
         "Jane", "Nora", "Molly", "Daisy", "Grace", "Hannah", "Clara", "Lena", "Maya", "Tina"]
BOYS = ["Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Tim", "Finn", "Joe", "Bob", "Dan", "Luke", "Owen", "Noah", "Eli",
        "Jake", "Milo", "Theo", "Hugo", "Oscar", "Peter", "Paul", "Ravi", "Omar"]
ANIMALS = ["dog", "cat", "bunny", "bear", "bird", "fox", "mouse", "duck", "frog", "goose", "pig", "lion", "puppy",
           "kitten", "squirrel", "turtle", "horse", "goat", "sheep", "hen", "deer", "monkey", "tiger", "whale"]
TRAITS = ["little", "happy", "kind", "brave", "shy", "curious", "clever", "small", "friendly", "playful", "gentle",
          "funny", "quiet", "busy", "silly", "cheerful", "young", "proud", "sleepy", "tiny"]
PLACES = ["park", "garden", "forest", "farm", "meadow", "village", "town", "field", "wood", "valley", "house",
          "yard", "hill", "school", "zoo"]
OBJECTS = ["ball", "kite", "hat", "toy car", "doll", "red ball", "blue kite", "book", "teddy bear", "toy boat",
           "drum", "crayon", "little truck", "yellow hat", "shoe", "cup", "sock", "balloon", "toy train", "ring",
           "necklace", "flower", "shell", "spoon"]
# objects the wind can take away
LIGHT = {"kite", "hat", "blue kite", "yellow hat", "balloon", "flower", "sock"}
PLAYS = [("play with", "played with"), ("look at", "looked at"), ("show everyone", "showed everyone"),
         ("carry", "carried"), ("hold", "held")]
LIKES = ["play outside", "run in the sun", "sing songs", "jump in the grass", "read books", "draw pictures",
         "dance", "look at the clouds", "splash in puddles", "pick flowers", "climb on rocks", "help", "laugh",
         "bake cookies", "count the stars", "play games"]
HIDES = ["bed", "big rock", "old box", "table", "bush", "bench", "chair", "pile of leaves", "blanket"]
TREES = ["tree", "tall tree", "big tree", "high tree"]
WATERS = ["pond", "river", "lake", "stream"]
SAD = ["sad", "upset", "worried", "unhappy", "scared"]
GLAD = ["happy", "glad", "very happy", "so happy", "excited"]
TIMES = ["morning", "afternoon", "evening", "sunny day", "rainy day", "cold day", "warm day"]
ENDINGS = ["sang together", "danced together", "played all day", "laughed and laughed", "had a picnic",
           "ran home", "went home together", "played until the sun went down"]

CLASSES = {
    "GIRL": GIRLS, "BOY": BOYS, "ANIMAL": ANIMALS, "TRAIT": TRAITS, "PLACE": PLACES, "OBJ": OBJECTS,
    "PLAY": [p for p, _ in PLAYS], "PLAYED": [p for _, p in PLAYS], "LIKE": LIKES, "HIDE": HIDES, "TREE": TREES,
    "WATER": WATERS, "SAD": SAD, "GLAD": GLAD, "TIME": TIMES, "END": ENDINGS,
}

# Slots: {M} {H} names; {Mk} {Hk} kinds; {Ms} {Mo} {Mp} (and H's) subject, object, possessive pronouns;
# {O} the story's object; {Mt} {Ht} traits; any other {CLASS} is a free word of that class.
TEMPLATES = {
    "intro": [
        "Once upon a time, there was a {Mt} {Mk} named {M}.",
        "Once upon a time, a {Mt} {Mk} named {M} lived near the {PLACE}.",
        "There was once a {Mt} {Mk} called {M}.",
        "One {TIME}, a {Mt} {Mk} named {M} went to the {PLACE}.",
        "Once there was a {Mk} named {M} who was very {Mt}.",
    ],
    "liking": [
        "{M} loved to {LIKE}.",
        "{Ms} liked to {LIKE} every day.",
        "Every day, {M} liked to {LIKE} with {Mp} friends.",
        "{M} was a {Mt} {Mk}, and {Ms} loved to {LIKE}.",
        "{Ms} had a {O} that {Ms} loved very much.",
    ],
    "wish": [
        "One day, {M} took {Mp} {O} to the {PLACE}.",
        "One day, {M} wanted to {PLAY} {Mp} {O} in the {PLACE}.",
        "{M} wanted to {PLAY} the {O} all day.",
        "One {TIME}, {M} went to the {PLACE} with {Mp} {O}.",
        "{Ms} took {Mp} {O} and ran to the {PLACE}.",
    ],
    "feeling": [
        "{M} felt {SAD}.",
        "{M} was very {SAD}.",
        "{Ms} began to cry.",
        "{M} sat down and cried.",
        "{Ms} did not know what to do.",
    ],
    "helper": [
        "Then {Ms} saw a {Ht} {Hk} named {H}.",
        "Just then, a {Ht} {Hk} named {H} came by.",
        "Soon, {Mp} friend {H} the {Hk} walked over.",
        "A {Hk} called {H} heard {Mo} and came to help.",
    ],
    "ask": [
        "\"Why are you {SAD}, {M}?\" asked {H}.",
        "\"What is wrong, {M}?\" asked {H}.",
        "{H} asked, \"Why are you crying?\"",
    ],
    "thanks": [
        "\"Thank you, {H}!\" said {M}.",
        "{M} said, \"Thank you so much, {H}!\"",
        "{M} hugged {H} and said, \"You are a good friend.\"",
        "{M} felt {GLAD} and thanked {H}.",
        "\"You are welcome, {M},\" said {H} with a smile.",
    ],
    "ending": [
        "From that day on, {M} and {H} were best friends.",
        "{M} and {H} {END}.",
        "After that, {M} always kept {Mp} {O} safe.",
        "{M} learned that it is good to ask for help.",
        "{M} and {H} played with the {O} all day, and they were very {GLAD}.",
        "That night, {M} went to sleep with {Mp} {O} by {Mp} side.",
        "The end.",
    ],
}

# A problem, what M says about it, and the fixes that fit it. Light objects only for "wind".
PROBLEMS = {
    "tree": {
        "problem": ["But the {O} got stuck in a {TREE}.", "Oh no, the {O} flew up into a {TREE} and got stuck.",
                    "But a strong wind came, and the {O} landed in a {TREE}."],
        "say": ["\"My {O} is stuck in the {TREE},\" said {M}.", "{M} said, \"I cannot reach my {O}.\""],
        "fix": ["{H} climbed up the {TREE} and got the {O} down.",
                "{H} found a long stick and pushed the {O} out of the {TREE}.",
                "{H} shook the {TREE}, and the {O} fell down into {M}'s hands."],
    },
    "water": {
        "problem": ["But the {O} fell into the {WATER}.", "Oh no, the {O} rolled into the {WATER}.",
                    "{M} dropped the {O}, and it fell into the {WATER}."],
        "say": ["\"My {O} fell into the {WATER},\" said {M}.", "{M} said, \"My {O} is in the water.\""],
        "fix": ["{H} swam into the {WATER} and brought back the {O}.",
                "{H} used a big net to get the {O} out of the {WATER}.",
                "{H} waded into the {WATER} and picked up the {O}."],
    },
    "broken": {
        "problem": ["But the {O} fell and broke.", "Oh no, {M} dropped the {O}, and it broke.",
                    "But the {O} hit a rock and broke into two pieces."],
        "say": ["\"My {O} is broken,\" said {M}.", "{M} said, \"I broke my {O}.\""],
        "fix": ["{H} fixed the {O} with some glue.", "{H} used some tape to fix the {O}.",
                "{H} took the pieces and made the {O} as good as new."],
    },
    "lost": {
        "problem": ["But when {Ms} looked again, the {O} was gone.", "Oh no, {M} lost the {O}.",
                    "But {M} could not find {Mp} {O} anywhere."],
        "say": ["\"I lost my {O},\" said {M}.", "{M} said, \"I cannot find my {O}.\""],
        "fix": ["{H} helped {Mo} look, and they found the {O} under the {HIDE}.",
                "{H} looked under the {HIDE} and found the {O}.",
                "{M} and {H} looked everywhere, and at last they found the {O} under the {HIDE}."],
    },
    "wind": {
        "problem": ["But the wind blew the {O} away.", "Oh no, a big wind took the {O} up into the sky.",
                    "Then the wind came and carried the {O} far away."],
        "say": ["\"The wind took my {O},\" said {M}.", "{M} said, \"My {O} flew away.\""],
        "fix": ["{H} ran fast and caught the {O}.", "{H} jumped high and caught the {O} in the air.",
                "{H} ran after the {O} and brought it back to {M}."],
    },
}
OFFER = ["\"I can help you,\" said {H}.", "\"Do not worry, I will help,\" said {H}.",
         "{H} said, \"Let me help you.\""]
AFTER = ["{M} was {GLAD} to have {Mp} {O} back.", "Now {M} was {GLAD} again.", "{M} smiled and clapped {Mp} hands."]

SLOT = re.compile(r"\{([A-Za-z]+)\}")
PRONOUNS = {"she": ("she", "her", "her"), "he": ("he", "him", "his")}


def _all_templates():
    """Every template with its step name: the grammar's sentences are the union of their languages."""
    out = []
    for step, ts in TEMPLATES.items():
        out += [(step, t) for t in ts]
    for name, p in PROBLEMS.items():
        out += [("problem:" + name, t) for t in p["problem"]]
        out += [("say:" + name, t) for t in p["say"]]
        out += [("fix:" + name, t) for t in p["fix"]]
    out += [("offer", t) for t in OFFER] + [("after", t) for t in AFTER]
    return out


class Character:
    def __init__(self, rng, gender, name=None, avoid=()):
        self.gender = gender
        names = [n for n in (GIRLS if gender == "she" else BOYS) if n not in avoid]
        self.name = name or rng.choice(names)
        self.kind = rng.choice([("girl" if gender == "she" else "boy")] * 3 + ANIMALS)
        self.trait = rng.choice(TRAITS)


BOUND = ("TREE", "WATER", "HIDE")  # one tree, one pond, one hiding place per story


def _fill(template, rng, m, h, obj, first, bound):
    def one(match):
        key = match.group(1)
        if key in BOUND:
            return bound[key]
        if key in ("M", "H"):
            return (m if key == "M" else h).name
        if key == "O":
            return obj
        if len(key) == 2 and key[0] in "MH":
            c = m if key[0] == "M" else h
            s, o, p = PRONOUNS[c.gender]
            return {"k": c.kind, "t": c.trait, "s": s, "o": o, "p": p}[key[1]]
        return rng.choice(CLASSES[key])
    text = SLOT.sub(one, template)
    return text[0].upper() + text[1:] if first else text


def story(rng):
    """One story, as one line of text."""
    m = Character(rng, rng.choice(["she", "he"]))
    h = Character(rng, rng.choice(["she", "he"]), avoid={m.name})
    problem = rng.choice(list(PROBLEMS))
    obj = rng.choice(sorted(LIGHT) if problem == "wind" else OBJECTS)
    p = PROBLEMS[problem]
    bound = {k: rng.choice(CLASSES[k]) for k in BOUND}
    steps = [TEMPLATES["intro"], TEMPLATES["liking"], TEMPLATES["wish"], p["problem"], TEMPLATES["feeling"],
             TEMPLATES["helper"], TEMPLATES["ask"], p["say"], OFFER, p["fix"], AFTER, TEMPLATES["thanks"],
             TEMPLATES["ending"]]
    sentences = []
    for i, ts in enumerate(steps):
        if 1 <= i <= 12 and i not in (3, 5, 9) and rng.random() < 0.2:
            continue  # optional steps: the intro, problem, helper and fix are always there
        if ts is TEMPLATES["liking"] and rng.random() < 0.4:
            sentences.append(_fill(rng.choice(ts), rng, m, h, obj, True, bound))  # sometimes two likings
        sentences.append(_fill(rng.choice(ts), rng, m, h, obj, True, bound))
    if rng.random() < 0.3:
        sentences.append(_fill(rng.choice(TEMPLATES["ending"][:-1]), rng, m, h, obj, True, bound))
    if len(sentences) >= 2 and sentences[-1] == sentences[-2]:
        sentences.pop()
    return " ".join(sentences)


# ---------------------------------------------------------------- checking

def _class_alt(words, capital):
    words = sorted(set(words), key=len, reverse=True)
    if capital:
        words = [w[0].upper() + w[1:] for w in words]
    return "(" + "|".join(re.escape(w) for w in words) + ")"


def _compile():
    names = GIRLS + BOYS
    kinds = ANIMALS + ["girl", "boy"]
    compiled = []
    for step, t in _all_templates():
        roles, pattern, pos = [], "", 0
        for match in SLOT.finditer(t):
            pattern += re.escape(t[pos:match.start()])
            key, capital = match.group(1), match.start() == 0
            if key in ("M", "H"):
                words, role = names, (key, "name")
            elif key == "O":
                words, role = OBJECTS, ("O", "obj")
            elif len(key) == 2 and key[0] in "MH":
                role = (key[0], {"k": "kind", "t": "trait", "s": "subj", "o": "obj_pron", "p": "poss"}[key[1]])
                words = {"k": kinds, "t": TRAITS, "s": ["he", "she"], "o": ["him", "her"], "p": ["his", "her"]}[key[1]]
            elif key in BOUND:
                words, role = CLASSES[key], ("W", key)
            else:
                words, role = CLASSES[key], None
            pattern += _class_alt(words, capital)
            roles.append(role)
            pos = match.end()
        pattern += re.escape(t[pos:])
        compiled.append((step, re.compile(pattern + r"\Z"), roles))
    return compiled


_COMPILED = None


def parses(sentence):
    """All (step, bindings) parses of a sentence: bindings are (role, attribute, word) triples."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = _compile()
    out = []
    for step, rx, roles in _COMPILED:
        m = rx.match(sentence)
        if m:
            out.append((step, [(r[0], r[1], m.group(i + 1)) for i, r in enumerate(roles) if r is not None]))
    return out


_SPLIT = re.compile(r'(?<=[.!?])"?\s+(?=["A-Z])|(?<=[.!?]")\s+(?=["A-Z])')


def sentences(text):
    """Splits a story into sentences: after . ! ? (and a closing quote) when a capital or a quote follows."""
    text = " ".join(text.split())
    if not text:
        return []
    parts, start = [], 0
    for m in re.finditer(r'[.!?]"?(?=\s+["A-Z])', text):
        parts.append(text[start:m.end()].strip())
        start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _gender_of(name):
    return "she" if name in GIRLS else "he"


def _consistent(state, bindings):
    """Whether a parse's bindings agree with the story's state (role -> attributes); returns the new state or None."""
    new = {r: ({k: (set(v) if isinstance(v, set) else v) for k, v in a.items()} if isinstance(a, dict) else a)
           for r, a in state.items()}
    for role, attr, word in bindings:
        a = new.setdefault(role, {})
        if attr in ("subj", "obj_pron", "poss"):
            a.setdefault("pron", set()).add((attr, word.lower()))
            continue
        if attr in a and a[attr] != word:
            return None
        a[attr] = word
    for role in ("M", "H"):
        a = new.get(role)
        if not a:
            continue
        if "name" in a:
            g = _gender_of(a["name"])
            want = dict(zip(("subj", "obj_pron", "poss"), PRONOUNS[g]))
            if any(word != want[attr] for attr, word in a.get("pron", ())):
                return None
            if a.get("kind") in ("girl", "boy") and a["kind"] != ("girl" if g == "she" else "boy"):
                return None
        elif a.get("pron"):
            return None  # a pronoun for a character never named
    if "name" in new.get("M", {}) and new["M"].get("name") == new.get("H", {}).get("name"):
        return None
    return new


def check_story(text):
    """Verdicts for one story: per sentence whether it parses, and whether the whole keeps its characters."""
    sents = sentences(text)
    verdicts = [bool(parses(s)) for s in sents]
    # search over parses: states are few (a sentence rarely has two parses), so keep every consistent state
    states = [({}, True)]
    for i, s in enumerate(sents):
        ps = parses(s)
        if not ps:
            continue  # an ungrammatical sentence is counted as such; consistency is judged on the rest
        nxt = []
        for state, fits in states:
            for step, b in ps:
                if i == 0 and step != "intro":
                    continue
                new = _consistent(state, b)
                if new is None:
                    continue
                if step.startswith("problem:"):
                    new["_problem"] = step.split(":")[1]
                ok = fits and not (step.startswith(("fix:", "say:")) and step.split(":")[1] != new.get("_problem"))
                nxt.append((new, ok))
        if not nxt:
            states = []
            break
        states = nxt[:64]
    consistent = bool(states) and bool(sents) and bool(parses(sents[0])) and any(st.get("M", {}).get("name") for st, _ in states)
    fix_fits = consistent and any(f for _, f in states)
    return {"sentences": len(sents), "grammatical": sum(verdicts), "consistent": consistent, "fix_fits_problem": fix_fits,
            "bad": [s for s, v in zip(sents, verdicts) if not v]}


def read_stories(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "\n---\n" in "\n" + text:
        return [s.strip() for s in ("\n" + text + "\n").split("\n---\n") if s.strip()]
    return [line.strip() for line in text.splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("--stories", type=int, default=42000)
    w.add_argument("--seed", type=int, default=2023)
    c = sub.add_parser("check")
    c.add_argument("file")
    c.add_argument("--json", action="store_true")
    s = sub.add_parser("sample")
    s.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "write":
        rng = random.Random(args.seed)
        with open(args.out, "w", encoding="utf-8") as f:
            for _ in range(args.stories):
                f.write(story(rng) + "\n")
    elif args.cmd == "sample":
        print(story(random.Random(args.seed)))
    else:
        results = [check_story(t) for t in read_stories(args.file)]
        total = sum(r["sentences"] for r in results)
        good = sum(r["grammatical"] for r in results)
        summary = {"stories": len(results), "sentences": total, "grammatical": good,
                   "grammatical_fraction": good / total if total else 0.0,
                   "consistent_stories": sum(r["consistent"] for r in results),
                   "consistent_fraction": sum(r["consistent"] for r in results) / len(results) if results else 0.0,
                   "fix_fits_problem": sum(r["fix_fits_problem"] for r in results),
                   "ungrammatical": [b for r in results for b in r["bad"]][:50]}
        if args.json:
            print(json.dumps(summary, indent=1))
        else:
            for k, v in summary.items():
                if k != "ungrammatical":
                    print(f"{k}: {v}")
            for b in summary["ungrammatical"]:
                print("  not in the grammar:", b)


if __name__ == "__main__":
    main()
